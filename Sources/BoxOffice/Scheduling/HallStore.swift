import Foundation
public import PostgresClient

/// Halls and their seats in PostgreSQL.
///
/// Seats that showtimes have used are never deleted (their `showtime_seats` and bookings point
/// at them): a new layout retires them and adds new rows.
public struct HallStore: Sendable {
    let postgres: PostgresPool

    public init(postgres: PostgresPool) {
        self.postgres = postgres
    }

    /// Creates a hall with its seats; 422 for bad input, 409 `hall_exists` for a taken name.
    public func create(_ input: HallInput) async throws -> Hall {
        let layout = try Self.validate(input, layoutRequired: true)!
        let bestView = input.bestView ?? SeatPoint(x: layout.defaultBestView.x, y: layout.defaultBestView.y)
        let name = input.name.trimmingCharacters(in: .whitespacesAndNewlines)
        return try await Self.mapNameClash(name) {
            try await postgres.withTransaction { connection in
                try await Self.checkCinema(input.cinemaID, on: connection)
                let id = try await connection.query("""
                    INSERT INTO halls (name, cleaning_minutes, best_view_x, best_view_y, cinema_id)
                    VALUES (\(name), \(input.cleaningMinutes), \(bestView.x), \(bestView.y),
                            COALESCE(\(input.cinemaID)::bigint, default_cinema()))
                    RETURNING id
                    """).first!.decode(Int.self, column: "id")
                try await Self.insertSeats(layout, hall: id, on: connection)
                return try await Self.load(id, withSeats: true, on: connection)!
            }
        }
    }

    /// A page of halls by name, with their seat counts; of one cinema when `cinemaID` is given.
    public func list(cinemaID: Int? = nil, limit: Int, offset: Int) async throws -> HallList {
        try await postgres.withConnection { connection in
            let total = try await connection.query("""
                SELECT count(*) AS total FROM halls WHERE (\(cinemaID)::bigint IS NULL OR cinema_id = \(cinemaID))
                """).first!.decode(Int.self, column: "total")
            let rows = try await connection.query("""
                \(unescaped: Self.hallSelect) WHERE (\(cinemaID)::bigint IS NULL OR h.cinema_id = \(cinemaID))
                ORDER BY h.name, h.id LIMIT \(limit) OFFSET \(offset)
                """)
            return HallList(items: try rows.map(Self.hall), total: total, limit: limit, offset: offset)
        }
    }

    /// The cinema a hall belongs to; nil for an unknown hall.
    public func cinemaID(ofHall id: Int) async throws -> Int? {
        try await postgres.query("SELECT cinema_id FROM halls WHERE id = \(id)").first?.decode(Int.self, column: "cinema_id")
    }

    /// A hall with its live seats in row and position order; 404 when unknown.
    public func get(_ id: Int) async throws -> Hall {
        let hall = try await postgres.withConnection { try await Self.load(id, withSeats: true, on: $0) }
        guard let hall else { throw BoxOfficeError.notFound("Hall \(id)") }
        return hall
    }

    /// Replaces name, cleaning time and best view; a layout, when given and different, replaces
    /// the seats unless upcoming showtimes use them (409 `hall_has_bookings` / `hall_has_showtimes`).
    /// Cleaning time applies to showtimes scheduled from now on; existing ones keep their end.
    public func update(_ id: Int, _ input: HallInput) async throws -> Hall {
        let layout = try Self.validate(input, layoutRequired: false)
        let name = input.name.trimmingCharacters(in: .whitespacesAndNewlines)
        return try await Self.mapNameClash(name) {
            try await postgres.withTransaction { connection in
                // Locks out showtimes being scheduled on the seats we may replace.
                let found = try await connection.query("SELECT id FROM halls WHERE id = \(id) FOR UPDATE")
                guard !found.isEmpty else { throw BoxOfficeError.notFound("Hall \(id)") }
                try await Self.checkCinema(input.cinemaID, on: connection)

                var bestView = input.bestView
                if let layout, try await Self.currentSeats(id, on: connection) != layout.seats {
                    try await Self.ensureLayoutMayChange(id, on: connection)
                    try await connection.query("""
                        DELETE FROM seats WHERE hall_id = \(id) AND retired_at IS NULL
                          AND NOT EXISTS (SELECT 1 FROM showtime_seats ss WHERE ss.seat_id = seats.id)
                        """)
                    try await connection.query("UPDATE seats SET retired_at = now() WHERE hall_id = \(id) AND retired_at IS NULL")
                    try await Self.insertSeats(layout, hall: id, on: connection)
                    if bestView == nil {
                        bestView = SeatPoint(x: layout.defaultBestView.x, y: layout.defaultBestView.y)
                    }
                }
                try await connection.query("""
                    UPDATE halls SET name = \(name), cleaning_minutes = \(input.cleaningMinutes),
                      best_view_x = COALESCE(\(bestView?.x), best_view_x),
                      best_view_y = COALESCE(\(bestView?.y), best_view_y),
                      cinema_id = COALESCE(\(input.cinemaID)::bigint, cinema_id),
                      updated_at = now()
                    WHERE id = \(id)
                    """)
                return try await Self.load(id, withSeats: true, on: connection)!
            }
        }
    }

    /// Deletes a hall that no showtime ever used; 409 `hall_has_showtimes` otherwise.
    public func delete(_ id: Int) async throws {
        try await postgres.withTransaction { connection in
            let found = try await connection.query("SELECT id FROM halls WHERE id = \(id) FOR UPDATE")
            guard !found.isEmpty else { throw BoxOfficeError.notFound("Hall \(id)") }
            let showtimes = try await connection.query("""
                SELECT id FROM showtimes WHERE hall_id = \(id) ORDER BY starts_at, id LIMIT 20
                """).map { try $0.decode(Int.self, column: "id") }
            guard showtimes.isEmpty else {
                throw BoxOfficeError(
                    .conflict, code: "hall_has_showtimes",
                    message: "Hall \(id) has showtimes (\(Self.list(showtimes))); halls with a history cannot be deleted.",
                    details: ["showtime_ids": .ints(showtimes)]
                )
            }
            try await connection.query("DELETE FROM halls WHERE id = \(id)")
        }
    }

    // MARK: - Rules

    /// Every problem of the input at once; the expanded layout when one was given.
    static func validate(_ input: HallInput, layoutRequired: Bool) throws(BoxOfficeError) -> HallLayout? {
        var validator = Validator()
        let name = input.name.trimmingCharacters(in: .whitespacesAndNewlines)
        validator.check((1...100).contains(name.count), "name", "must be 1 to 100 characters.")
        validator.check(!name.unicodeScalars.contains("\0"), "name", "must not contain NUL characters.")
        validator.check((0...600).contains(input.cleaningMinutes), "cleaning_minutes", "must be 0 to 600.")
        if let bestView = input.bestView {
            validator.check(bestView.x.isFinite && abs(bestView.x) <= 100_000, "best_view.x", "must be a number within ±100000.")
            validator.check(bestView.y.isFinite && abs(bestView.y) <= 100_000, "best_view.y", "must be a number within ±100000.")
        }
        validator.check(!layoutRequired || input.layout != nil, "layout", "is required: give 'seats', 'rows' or 'grid'.")
        var layout: HallLayout?
        var errors = validator.errors
        if let input = input.layout {
            do {
                layout = try HallLayout(input)
            } catch {
                errors += error.fieldErrors
            }
        }
        if !errors.isEmpty { throw BoxOfficeError.validation(errors) }
        return layout
    }

    /// A new layout would orphan the seat maps of showtimes still to come.
    static func ensureLayoutMayChange(_ id: Int, on connection: PostgresConnection) async throws {
        let booked = try await connection.query("""
            SELECT DISTINCT s.id, s.starts_at FROM showtimes s JOIN bookings b ON b.showtime_id = s.id
            WHERE s.hall_id = \(id) AND s.ends_at > now() AND b.status IN ('pending', 'confirmed')
            ORDER BY s.starts_at, s.id
            """).map { try $0.decode(Int.self, column: "id") }
        if !booked.isEmpty {
            throw BoxOfficeError(
                .conflict, code: "hall_has_bookings",
                message: "The layout cannot change: upcoming showtimes (\(list(booked))) have bookings.",
                details: ["showtime_ids": .ints(booked)]
            )
        }
        let upcoming = try await connection.query("""
            SELECT id FROM showtimes WHERE hall_id = \(id) AND status = 'scheduled' AND ends_at > now()
            ORDER BY starts_at, id
            """).map { try $0.decode(Int.self, column: "id") }
        if !upcoming.isEmpty {
            throw BoxOfficeError(
                .conflict, code: "hall_has_showtimes",
                message: "The layout cannot change while showtimes (\(list(upcoming))) are scheduled in the hall; move or cancel them first.",
                details: ["showtime_ids": .ints(upcoming)]
            )
        }
    }

    static func list(_ ids: [Int]) -> String {
        ids.map(String.init).joined(separator: ", ")
    }

    static func mapNameClash<R>(_ name: String, _ body: () async throws -> R) async throws -> R {
        do {
            return try await body()
        } catch let error as PostgresError where error.code == .uniqueViolation && error.constraint == "halls_name_key" {
            throw BoxOfficeError(.conflict, code: "hall_exists", message: "A hall named '\(name)' exists already.")
        }
    }

    // MARK: - SQL

    static func insertSeats(_ layout: HallLayout, hall id: Int, on connection: PostgresConnection) async throws {
        let seats = layout.seats
        try await connection.query("""
            INSERT INTO seats (hall_id, row_label, row_index, number, position, category, x, y)
            SELECT \(id), u.* FROM unnest(
              \(seats.map(\.rowLabel))::text[], \(seats.map(\.rowIndex))::int[], \(seats.map(\.number))::int[],
              \(seats.map(\.position))::int[], \(seats.map(\.category))::text[],
              \(seats.map(\.x))::float8[], \(seats.map(\.y))::float8[]
            ) AS u
            """)
    }

    static func currentSeats(_ id: Int, on connection: PostgresConnection) async throws -> [LayoutSeat] {
        try await connection.query("""
            SELECT row_label, row_index, number, position, category, x, y FROM seats
            WHERE hall_id = \(id) AND retired_at IS NULL ORDER BY row_index, position
            """).map { row in
            LayoutSeat(
                rowLabel: try row.decode(String.self, column: "row_label"),
                rowIndex: try row.decode(Int.self, column: "row_index"),
                number: try row.decode(Int.self, column: "number"),
                position: try row.decode(Int.self, column: "position"),
                category: try row.decode(String.self, column: "category"),
                x: try row.decode(Double.self, column: "x"),
                y: try row.decode(Double.self, column: "y")
            )
        }
    }

    /// 422 naming `cinema_id` when it names no cinema.
    static func checkCinema(_ id: Int?, on connection: PostgresConnection) async throws {
        guard let id else { return }
        guard try await connection.query("SELECT 1 FROM cinemas WHERE id = \(id) FOR KEY SHARE").first != nil else {
            throw BoxOfficeError.validation(field: "cinema_id", "there is no cinema \(id).")
        }
    }

    static let hallSelect = """
        SELECT h.id, h.cinema_id, h.name, h.cleaning_minutes, h.best_view_x, h.best_view_y,
          (SELECT count(*) FROM seats s WHERE s.hall_id = h.id AND s.retired_at IS NULL) AS seat_count,
          ARRAY(SELECT DISTINCT s.category FROM seats s WHERE s.hall_id = h.id AND s.retired_at IS NULL
                ORDER BY s.category) AS categories
        FROM halls h
        """

    static func hall(_ row: PostgresRow) throws -> Hall {
        Hall(
            id: try row.decode(Int.self, column: "id"),
            cinemaID: try row.decode(Int.self, column: "cinema_id"),
            name: try row.decode(String.self, column: "name"),
            cleaningMinutes: try row.decode(Int.self, column: "cleaning_minutes"),
            bestView: SeatPoint(
                x: try row.decode(Double?.self, column: "best_view_x") ?? 0,
                y: try row.decode(Double?.self, column: "best_view_y") ?? 0
            ),
            seatCount: try row.decode(Int.self, column: "seat_count"),
            categories: try row.decode([String].self, column: "categories"),
            seats: nil
        )
    }

    static func load(_ id: Int, withSeats: Bool, on connection: PostgresConnection) async throws -> Hall? {
        guard let row = try await connection.query("\(unescaped: hallSelect) WHERE h.id = \(id)").first else { return nil }
        var hall = try hall(row)
        if withSeats {
            hall.seats = try await connection.query("""
                SELECT id, row_label, row_index, number, position, category, x, y FROM seats
                WHERE hall_id = \(id) AND retired_at IS NULL ORDER BY row_index, position
                """).map { row in
                HallSeat(
                    id: try row.decode(Int.self, column: "id"),
                    row: try row.decode(String.self, column: "row_label"),
                    rowIndex: try row.decode(Int.self, column: "row_index"),
                    number: try row.decode(Int.self, column: "number"),
                    position: try row.decode(Int.self, column: "position"),
                    category: try row.decode(String.self, column: "category"),
                    x: try row.decode(Double.self, column: "x"),
                    y: try row.decode(Double.self, column: "y")
                )
            }
        }
        return hall
    }
}
