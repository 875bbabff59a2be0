public import Foundation
public import PostgresClient

/// Showtimes in PostgreSQL. The exclusion constraint `showtimes_no_overlap` is what keeps two
/// live showtimes of a hall apart, also when requests race; this type only names the one in
/// the way.
public struct ShowtimeStore: Sendable {
    let postgres: PostgresPool

    public init(postgres: PostgresPool) {
        self.postgres = postgres
    }

    /// Schedules a showtime with its prices and one `showtime_seats` row a seat, in one
    /// transaction. 422 for bad input or an unknown movie or hall; 409 `showtime_overlap`.
    public func create(_ input: ShowtimeInput, now: Date = Date()) async throws -> Showtime {
        var validator = Validator()
        let startsAt = Self.checkStart(input.startsAt, now: now, &validator)
        let currency = input.currency ?? "EUR"
        Self.checkCurrency(currency, &validator)
        Self.checkPriceValues(input.prices, &validator)
        let saleOpensAt = input.saleOpensAt.flatMap { Self.checkSaleOpening($0, startsAt: startsAt, &validator) }
        try validator.validate()
        let start = startsAt!
        let waitingRoom = input.waitingRoom ?? .off

        var ends: Date?
        do {
            return try await postgres.withTransaction { connection in
                // Shared lock: the hall's layout cannot change under the seats we copy.
                let hall = try await connection.query("""
                    SELECT cleaning_minutes FROM halls WHERE id = \(input.hallID) FOR SHARE
                    """).first
                // An archived (deleted) movie is no longer in the catalogue: nothing may be scheduled for it.
                let movie = try await connection.query("""
                    SELECT duration_minutes FROM movies WHERE id = \(input.movieID) AND archived_at IS NULL FOR KEY SHARE
                    """).first
                var validator = Validator()
                validator.check(movie != nil, "movie_id", "there is no movie \(input.movieID).")
                validator.check(hall != nil, "hall_id", "there is no hall \(input.hallID).")
                try validator.validate()
                let cleaning = try hall!.decode(Int.self, column: "cleaning_minutes")
                let duration = try movie!.decode(Int.self, column: "duration_minutes")
                let categories = try await connection.query("""
                    SELECT DISTINCT category FROM seats WHERE hall_id = \(input.hallID) AND retired_at IS NULL
                    """).map { try $0.decode(String.self, column: "category") }
                try Self.checkPriceCategories(input.prices, hallCategories: Set(categories))

                let end = start.addingTimeInterval(TimeInterval((duration + cleaning) * 60))
                ends = end
                let id = try await connection.query("""
                    INSERT INTO showtimes (movie_id, hall_id, starts_at, ends_at, currency, sale_opens_at, waiting_room)
                    VALUES (\(input.movieID), \(input.hallID), \(start), \(end), \(currency), \(saleOpensAt), \(waitingRoom.rawValue))
                    RETURNING id
                    """).first!.decode(Int.self, column: "id")
                try await Self.replacePrices(input.prices, showtime: id, on: connection)
                try await connection.query("""
                    INSERT INTO showtime_seats (showtime_id, seat_id, status, version)
                    SELECT \(id), id, 'available', 0 FROM seats WHERE hall_id = \(input.hallID) AND retired_at IS NULL
                    """)
                return try await Self.load(id, withCapacity: true, on: connection)!
            }
        } catch let error as PostgresError where Self.isOverlap(error) {
            throw try await overlapError(hall: input.hallID, start: start, end: ends ?? start, excluding: nil)
        }
    }

    /// Moves a showtime and/or replaces its prices or currency. Refused once it started or was
    /// cancelled, and a move while it has bookings (409 `showtime_has_bookings`) or live holds
    /// (409 `showtime_has_holds`, counted by `liveHolds`): nobody pays for a time they did not
    /// see. A hold taken on another instance that had not yet seen the move is refused at its
    /// checkout (409 `showtime_moved`): the hold records the start it was taken for.
    public func update(
        _ id: Int, _ change: ShowtimeChange, now: Date = Date(), liveHolds: @Sendable () async throws -> Int = { 0 }
    ) async throws -> Showtime {
        var validator = Validator()
        let newStart = change.startsAt.flatMap { Self.checkStart($0, now: now, &validator) }
        if let currency = change.currency { Self.checkCurrency(currency, &validator) }
        if let prices = change.prices { Self.checkPriceValues(prices, &validator) }
        let saleOpensAt = change.saleOpensAt.flatMap { Self.checkSaleOpening($0, startsAt: nil, &validator) }
        try validator.validate()

        var hallID = 0
        var ends: Date?
        do {
            return try await postgres.withTransaction { connection in
                guard let current = try await connection.query("""
                    SELECT hall_id, movie_id, starts_at, status, sale_opens_at FROM showtimes WHERE id = \(id) FOR UPDATE
                    """).first
                else { throw BoxOfficeError.notFound("Showtime \(id)") }
                hallID = try current.decode(Int.self, column: "hall_id")
                let movieID = try current.decode(Int.self, column: "movie_id")
                let startsAt = try current.decode(Date.self, column: "starts_at")
                guard try current.decode(String.self, column: "status") == "scheduled" else {
                    throw BoxOfficeError(.conflict, code: "showtime_cancelled", message: "Showtime \(id) is cancelled; schedule a new one instead.")
                }
                guard startsAt > now else {
                    throw BoxOfficeError(.conflict, code: "showtime_started", message: "Showtime \(id) has already started and can no longer change.")
                }
                // The sale must open before the start, whichever of the two changes.
                let currentOpening = try current.decode(Date?.self, column: "sale_opens_at")
                if let opens = saleOpensAt ?? currentOpening, opens >= (newStart ?? startsAt) {
                    throw BoxOfficeError.validation(field: "sale_opens_at", "must be before the showtime starts.")
                }

                if let newStart, newStart != startsAt {
                    let bookings = try await connection.query("""
                        SELECT count(*) AS n FROM bookings WHERE showtime_id = \(id) AND status IN ('pending', 'confirmed')
                        """).first!.decode(Int.self, column: "n")
                    guard bookings == 0 else {
                        throw BoxOfficeError(
                            .conflict, code: "showtime_has_bookings",
                            message: "Showtime \(id) has \(bookings) booking(s) and cannot move; cancel it and schedule a new one.",
                            details: ["bookings": .int(bookings)]
                        )
                    }
                    let holds = try await liveHolds()
                    guard holds == 0 else {
                        throw BoxOfficeError(
                            .conflict, code: "showtime_has_holds",
                            message: "Showtime \(id) has \(holds) live seat hold(s) and cannot move until they lapse (at most the hold time plus the payment window); cancel it and schedule a new one instead.",
                            details: ["holds": .int(holds)]
                        )
                    }
                    let minutes = try await connection.query("""
                        SELECT m.duration_minutes + h.cleaning_minutes AS minutes
                        FROM movies m, halls h WHERE m.id = \(movieID) AND h.id = \(hallID)
                        """).first!.decode(Int.self, column: "minutes")
                    let end = newStart.addingTimeInterval(TimeInterval(minutes * 60))
                    ends = end
                    try await connection.query("""
                        UPDATE showtimes SET starts_at = \(newStart), ends_at = \(end) WHERE id = \(id)
                        """)
                }
                if let prices = change.prices {
                    // The categories of this showtime's own seats, which a later layout change leaves alone.
                    let categories = try await connection.query("""
                        SELECT DISTINCT se.category FROM showtime_seats ss JOIN seats se ON se.id = ss.seat_id
                        WHERE ss.showtime_id = \(id)
                        """).map { try $0.decode(String.self, column: "category") }
                    try Self.checkPriceCategories(prices, hallCategories: Set(categories))
                    try await connection.query("DELETE FROM showtime_prices WHERE showtime_id = \(id)")
                    try await Self.replacePrices(prices, showtime: id, on: connection)
                }
                try await connection.query("""
                    UPDATE showtimes SET currency = COALESCE(\(change.currency), currency),
                      sale_opens_at = COALESCE(\(saleOpensAt), sale_opens_at),
                      waiting_room = COALESCE(\(change.waitingRoom?.rawValue), waiting_room), updated_at = now()
                    WHERE id = \(id)
                    """)
                return try await Self.load(id, withCapacity: true, on: connection)!
            }
        } catch let error as PostgresError where Self.isOverlap(error) {
            throw try await overlapError(hall: hallID, start: newStart!, end: ends ?? newStart!, excluding: id)
        }
    }

    /// One showtime with its capacity, cancelled ones included; 404 when unknown.
    public func get(_ id: Int) async throws -> Showtime {
        let showtime = try await postgres.withConnection { try await Self.load(id, withCapacity: true, on: $0) }
        guard let showtime else { throw BoxOfficeError.notFound("Showtime \(id)") }
        return showtime
    }

    /// The cinema a showtime is in (its hall's); nil for an unknown showtime.
    public func cinemaID(ofShowtime id: Int) async throws -> Int? {
        try await postgres.query("""
            SELECT h.cinema_id FROM showtimes s JOIN halls h ON h.id = s.hall_id WHERE s.id = \(id)
            """).first?.decode(Int.self, column: "cinema_id")
    }

    /// The scheduled showtimes starting within the filter's day, by start.
    public func list(_ filter: ShowtimeFilter) async throws -> ShowtimeList {
        try await postgres.withConnection { connection in
            let total = try await connection.query("""
                SELECT count(*) AS total FROM showtimes s JOIN halls h ON h.id = s.hall_id JOIN cinemas c ON c.id = h.cinema_id
                WHERE s.status = 'scheduled' AND s.starts_at >= \(filter.from) AND s.starts_at < \(filter.to)
                  AND (\(filter.localDate)::date IS NULL OR (s.starts_at AT TIME ZONE c.time_zone)::date = \(filter.localDate)::date)
                  AND (\(filter.cinemaID)::bigint IS NULL OR c.id = \(filter.cinemaID))
                  AND (\(filter.city)::text IS NULL OR lower(c.city) = lower(\(filter.city)))
                  AND (\(filter.movieID)::bigint IS NULL OR s.movie_id = \(filter.movieID))
                  AND (\(filter.hallID)::bigint IS NULL OR s.hall_id = \(filter.hallID))
                  AND (\(filter.genreID)::bigint IS NULL OR EXISTS (
                    SELECT 1 FROM movie_genres g WHERE g.movie_id = s.movie_id AND g.genre_id = \(filter.genreID)))
                """).first!.decode(Int.self, column: "total")
            let rows = try await connection.query("""
                \(unescaped: Self.showtimeSelect)
                WHERE s.status = 'scheduled' AND s.starts_at >= \(filter.from) AND s.starts_at < \(filter.to)
                  AND (\(filter.localDate)::date IS NULL OR (s.starts_at AT TIME ZONE c.time_zone)::date = \(filter.localDate)::date)
                  AND (\(filter.cinemaID)::bigint IS NULL OR c.id = \(filter.cinemaID))
                  AND (\(filter.city)::text IS NULL OR lower(c.city) = lower(\(filter.city)))
                  AND (\(filter.movieID)::bigint IS NULL OR s.movie_id = \(filter.movieID))
                  AND (\(filter.hallID)::bigint IS NULL OR s.hall_id = \(filter.hallID))
                  AND (\(filter.genreID)::bigint IS NULL OR EXISTS (
                    SELECT 1 FROM movie_genres g WHERE g.movie_id = s.movie_id AND g.genre_id = \(filter.genreID)))
                ORDER BY s.starts_at, s.id LIMIT \(filter.limit) OFFSET \(filter.offset)
                """)
            return ShowtimeList(
                items: try rows.map { try Self.showtime($0, withCapacity: false) },
                total: total, limit: filter.limit, offset: filter.offset
            )
        }
    }

    // MARK: - Rules

    /// How far ahead a showtime may start: two years.
    static let furthestStart: TimeInterval = 2 * 366 * 24 * 3600

    static func checkStart(_ text: String, now: Date, _ validator: inout Validator) -> Date? {
        guard let date = SchedulingTime.parseInstant(text) else {
            validator.check(false, "starts_at", "must be an ISO 8601 timestamp with a zone, e.g. 2026-05-01T19:30:00Z.")
            return nil
        }
        validator.check(date > now, "starts_at", "must be in the future.")
        // No cinema sells seats years ahead; a start in year 99999 is a typing error.
        validator.check(date < now.addingTimeInterval(Self.furthestStart), "starts_at", "must be within two years from now.")
        return date
    }

    /// A sale opening: a timestamp, before the start (when known here), at most two years ahead.
    static func checkSaleOpening(_ text: String, startsAt: Date?, _ validator: inout Validator) -> Date? {
        guard let date = SchedulingTime.parseInstant(text) else {
            validator.check(false, "sale_opens_at", "must be an ISO 8601 timestamp with a zone, e.g. 2026-05-01T10:00:00Z.")
            return nil
        }
        if let startsAt { validator.check(date < startsAt, "sale_opens_at", "must be before the showtime starts.") }
        validator.check(date < Date().addingTimeInterval(Self.furthestStart), "sale_opens_at", "must be within two years from now.")
        return date
    }

    static func checkCurrency(_ currency: String, _ validator: inout Validator) {
        let valid = currency.count == 3 && currency.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) }
        validator.check(valid, "currency", "must be 3 uppercase letters (ISO 4217), e.g. EUR.")
    }

    static func checkPriceValues(_ prices: [String: Int], _ validator: inout Validator) {
        validator.check(!prices.isEmpty, "prices", "must give a price for each seat category of the hall.")
        for (category, price) in prices.sorted(by: { $0.key < $1.key }) {
            validator.check(HallLayout.isValidCategory(category), "prices.\(category)", "is not a seat category name (a–z and _).")
            validator.check(price >= 0 && price <= 100_000_000, "prices.\(category)", "must be a whole number of minor units, 0 to 100000000.")
        }
    }

    /// Every category among the seats needs a price, and a price needs seats.
    static func checkPriceCategories(_ prices: [String: Int], hallCategories: Set<String>) throws(BoxOfficeError) {
        var validator = Validator()
        let missing = hallCategories.subtracting(prices.keys).sorted()
        validator.check(missing.isEmpty, "prices", "missing a price for: \(missing.joined(separator: ", ")).")
        for category in Set(prices.keys).subtracting(hallCategories).sorted() {
            validator.check(false, "prices.\(category)", "the hall has no seats of this category.")
        }
        try validator.validate()
    }

    static func isOverlap(_ error: PostgresError) -> Bool {
        error.code == .exclusionViolation && error.constraint == "showtimes_no_overlap"
    }

    /// The 409 naming the live showtime in the way. Looked up after the failed transaction: it
    /// committed before ours failed, so it is visible now (unless cancelled meanwhile).
    func overlapError(hall: Int, start: Date, end: Date, excluding: Int?) async throws -> BoxOfficeError {
        let row = try await postgres.query("""
            SELECT id, starts_at, ends_at FROM showtimes
            WHERE hall_id = \(hall) AND status = 'scheduled' AND id <> \(excluding ?? 0)
              AND tstzrange(starts_at, ends_at) && tstzrange(\(start), \(end))
            ORDER BY starts_at LIMIT 1
            """).first
        guard let row else {
            return BoxOfficeError(.conflict, code: "showtime_overlap", message: "Another showtime of hall \(hall) overlaps this time; try again.")
        }
        let id = try row.decode(Int.self, column: "id")
        let otherStart = SchedulingTime.format(try row.decode(Date.self, column: "starts_at"))
        let otherEnd = SchedulingTime.format(try row.decode(Date.self, column: "ends_at"))
        return BoxOfficeError(
            .conflict, code: "showtime_overlap",
            message: "Hall \(hall) is taken by showtime \(id) from \(otherStart) to \(otherEnd) (cleaning included).",
            details: [
                "conflicting_showtime_id": .int(id),
                "conflicting_starts_at": .string(otherStart),
                "conflicting_ends_at": .string(otherEnd),
            ]
        )
    }

    // MARK: - SQL

    static func replacePrices(_ prices: [String: Int], showtime id: Int, on connection: PostgresConnection) async throws {
        let sorted = prices.sorted { $0.key < $1.key }
        try await connection.query("""
            INSERT INTO showtime_prices (showtime_id, category, price_minor)
            SELECT \(id), u.category, u.price FROM unnest(\(sorted.map(\.key))::text[], \(sorted.map(\.value))::bigint[]) AS u(category, price)
            """)
    }

    static let showtimeSelect = """
        SELECT s.id, s.starts_at, s.ends_at, s.status, s.currency, s.cancelled_at, s.sale_opens_at, s.waiting_room,
          m.id AS movie_id, m.title AS movie_title, m.duration_minutes,
          h.id AS hall_id, h.name AS hall_name,
          c.id AS cinema_id, c.name AS cinema_name, c.city AS cinema_city, c.time_zone AS cinema_time_zone,
          ARRAY(SELECT p.category FROM showtime_prices p WHERE p.showtime_id = s.id ORDER BY p.category) AS price_categories,
          ARRAY(SELECT p.price_minor FROM showtime_prices p WHERE p.showtime_id = s.id ORDER BY p.category) AS price_amounts,
          (SELECT count(*) FROM showtime_seats ss WHERE ss.showtime_id = s.id) AS capacity
        FROM showtimes s JOIN movies m ON m.id = s.movie_id JOIN halls h ON h.id = s.hall_id JOIN cinemas c ON c.id = h.cinema_id
        """

    static func load(_ id: Int, withCapacity: Bool, on connection: PostgresConnection) async throws -> Showtime? {
        guard let row = try await connection.query("\(unescaped: showtimeSelect) WHERE s.id = \(id)").first else { return nil }
        return try showtime(row, withCapacity: withCapacity)
    }

    static func showtime(_ row: PostgresRow, withCapacity: Bool) throws -> Showtime {
        let categories = try row.decode([String].self, column: "price_categories")
        let amounts = try row.decode([Int].self, column: "price_amounts")
        let zone = try row.decode(String.self, column: "cinema_time_zone")
        let startsAt = try row.decode(Date.self, column: "starts_at")
        return Showtime(
            id: try row.decode(Int.self, column: "id"),
            startsAt: startsAt,
            endsAt: try row.decode(Date.self, column: "ends_at"),
            status: try row.decode(String.self, column: "status"),
            currency: try row.decode(String.self, column: "currency"),
            prices: Dictionary(uniqueKeysWithValues: zip(categories, amounts)),
            movie: .init(
                id: try row.decode(Int.self, column: "movie_id"),
                title: try row.decode(String.self, column: "movie_title"),
                durationMinutes: try row.decode(Int.self, column: "duration_minutes")
            ),
            hall: .init(id: try row.decode(Int.self, column: "hall_id"), name: try row.decode(String.self, column: "hall_name")),
            cinema: .init(
                id: try row.decode(Int.self, column: "cinema_id"), name: try row.decode(String.self, column: "cinema_name"),
                city: try row.decode(String.self, column: "cinema_city"), timeZone: zone
            ),
            localStartsAt: SchedulingTime.formatLocal(startsAt, in: TimeZone(identifier: zone) ?? .gmt),
            cancelledAt: try row.decode(Date?.self, column: "cancelled_at"),
            saleOpensAt: try row.decode(Date?.self, column: "sale_opens_at"),
            waitingRoom: WaitingRoomMode(rawValue: try row.decode(String.self, column: "waiting_room")) ?? .off,
            capacity: withCapacity ? try row.decode(Int.self, column: "capacity") : nil
        )
    }
}
