public import Foundation
public import PostgresClient

/// The staff reports, aggregated by PostgreSQL (migration 0005 adds the indexes they use).
/// Rows come in a stable order and in pages (keyset cursors), so a caller can stream a
/// report of any size a page at a time.
///
/// Money follows one rule everywhere: gross = amounts of bookings that were confirmed
/// (`confirmed_at` set, including those cancelled later); refunds = refunds recorded against
/// those bookings that did not fail; net = gross − refunds. Figures belong to the showtime.
public struct ReportStore: Sendable {
    let postgres: PostgresPool
    let timeZone: TimeZone
    let timeSlots: TimeSlots

    public init(postgres: PostgresPool, timeZone: TimeZone, timeSlots: TimeSlots) {
        self.postgres = postgres
        self.timeZone = timeZone
        self.timeSlots = timeSlots
    }

    // MARK: - Showtimes

    /// The showtimes starting within the period, by start then id, with their sales; `held`
    /// is left nil (it lives in Redis, see `HeldSeatCounter`).
    public func showtimes(
        _ filter: ShowtimeReportFilter,
        after cursor: ReportCursor?,
        limit: Int,
        now: Date = Date()
    ) async throws -> ReportPage<ShowtimeReportRow> {
        let cursorID = try cursor.map { cursor throws(BoxOfficeError) in
            guard let id = Int(cursor.id) else { throw Self.badCursor }
            return id
        }
        // The page's showtimes first (index range scan on starts_at), then their figures, so
        // the per-showtime sums run for one page only.
        let rows = try await query("""
            WITH page AS (
              SELECT s.id, s.movie_id, s.hall_id, s.starts_at, s.ends_at, s.status, s.currency, s.capacity
              FROM showtimes s
              WHERE s.starts_at >= \(filter.period.from) AND s.starts_at < \(filter.period.to)
                AND (\(filter.movieID)::bigint IS NULL OR s.movie_id = \(filter.movieID))
                AND (\(filter.hallID)::bigint IS NULL OR s.hall_id = \(filter.hallID))
                AND (\(filter.cinemaID)::bigint IS NULL OR s.hall_id IN (SELECT id FROM halls WHERE cinema_id = \(filter.cinemaID)))
                AND (\(cursorID)::bigint IS NULL
                     OR (s.starts_at, s.id) > (timestamptz 'epoch' + \(cursor?.microseconds) * interval '1 microsecond', \(cursorID)))
              ORDER BY s.starts_at, s.id
              LIMIT \(limit + 1)
            )
            SELECT p.id, p.starts_at, p.status, p.currency, p.capacity,
              to_char(p.starts_at AT TIME ZONE c.time_zone, 'YYYY-MM-DD"T"HH24:MI') AS starts_at_local,
              (p.status = 'scheduled' AND p.ends_at > \(now)) AS on_sale,
              (extract(epoch FROM p.starts_at) * 1000000)::bigint AS cursor_us,
              m.id AS movie_id, m.title AS movie_title, h.id AS hall_id, h.name AS hall_name,
              sold.n AS sold,
              CASE WHEN p.capacity > 0 THEN round(100.0 * sold.n / p.capacity, 2) ELSE 0 END AS occupancy,
              money.gross, back.refunds
            FROM page p
            JOIN movies m ON m.id = p.movie_id
            JOIN halls h ON h.id = p.hall_id
            JOIN cinemas c ON c.id = h.cinema_id
            -- Each from an index alone: showtime_seats_sold, bookings_confirmed_showtime, refunds_counted.
            CROSS JOIN LATERAL (
              SELECT count(*) AS n FROM showtime_seats ss WHERE ss.showtime_id = p.id AND ss.status = 'sold'
            ) sold
            CROSS JOIN LATERAL (
              SELECT COALESCE(sum(b.amount_minor), 0) AS gross
              FROM bookings b WHERE b.showtime_id = p.id AND b.confirmed_at IS NOT NULL
            ) money
            CROSS JOIN LATERAL (
              SELECT COALESCE(sum(r.amount_minor), 0) AS refunds
              FROM bookings b JOIN refunds r ON r.booking_id = b.id
              WHERE b.showtime_id = p.id AND b.confirmed_at IS NOT NULL AND r.status <> 'failed'
            ) back
            ORDER BY p.starts_at, p.id
            """)
        var items: [ShowtimeReportRow] = []
        items.reserveCapacity(min(rows.count, limit))
        var next: ReportCursor?
        for (index, row) in rows.enumerated() {
            guard index < limit else { break }
            items.append(ShowtimeReportRow(
                id: try row.decode(Int.self, column: "id"),
                movie: ReportRef(id: try row.decode(Int.self, column: "movie_id"), name: try row.decode(String.self, column: "movie_title")),
                hall: ReportRef(id: try row.decode(Int.self, column: "hall_id"), name: try row.decode(String.self, column: "hall_name")),
                startsAt: try row.decode(Date.self, column: "starts_at"),
                startsAtLocal: try row.decode(String.self, column: "starts_at_local"),
                status: try row.decode(String.self, column: "status"),
                currency: try row.decode(String.self, column: "currency"),
                capacity: try row.decode(Int.self, column: "capacity"),
                sold: try row.decode(Int.self, column: "sold"),
                held: nil,
                occupancyPercent: try row.decode(Double.self, column: "occupancy"),
                grossMinor: try row.decode(Int.self, column: "gross"),
                refundsMinor: try row.decode(Int.self, column: "refunds"),
                isOnSale: try row.decode(Bool.self, column: "on_sale")
            ))
            if index == limit - 1, rows.count > limit {
                next = ReportCursor(microseconds: try row.decode(Int64.self, column: "cursor_us"), id: String(items[index].id))
            }
        }
        return ReportPage(items: items, nextCursor: next)
    }

    // MARK: - Revenue

    /// Tickets, money and average occupancy of the showtimes starting within the period, per
    /// group and currency, and the totals per currency.
    /// `cinemaID` limits it to one cinema, whose `timeZone` the report then names.
    public func revenue(
        period: ReportPeriod, groupBy grouping: RevenueGrouping, cinemaID: Int? = nil, timeZone zone: TimeZone? = nil
    ) async throws -> RevenueReport {
        let slots = timeSlots
        // One statement: per-showtime figures (`per`), then grouped, then the totals. Only the
        // grouping's fixed SQL text (from a closed enum) is spliced in; every value is bound.
        let rows = try await query("""
            WITH slot_names AS (
              SELECT t.name, t.n FROM unnest(\(slots.names)::text[]) WITH ORDINALITY AS t(name, n)
            ), st AS MATERIALIZED (
              -- Each showtime's local time is its own cinema's: days, weekdays and slots follow it.
              SELECT s.id, s.movie_id, s.hall_id, h.cinema_id, s.status, s.currency, s.capacity,
                     s.starts_at AT TIME ZONE c.time_zone AS local_start
              FROM showtimes s JOIN halls h ON h.id = s.hall_id JOIN cinemas c ON c.id = h.cinema_id
              WHERE s.starts_at >= \(period.from) AND s.starts_at < \(period.to)
                AND (\(cinemaID)::bigint IS NULL OR h.cinema_id = \(cinemaID))
            ), sold AS (
              SELECT ss.showtime_id, count(*) AS sold
              FROM showtime_seats ss JOIN st ON st.id = ss.showtime_id
              WHERE ss.status = 'sold'
              GROUP BY ss.showtime_id
            ), money AS (
              -- One pass over bookings_confirmed_showtime; refunds are few, so they are summed
              -- per booking first (refunds_counted) and joined by hash.
              SELECT b.showtime_id, sum(b.amount_minor) AS gross, sum(r.refunded) AS refunds
              FROM bookings b
              JOIN st ON st.id = b.showtime_id
              LEFT JOIN (
                SELECT booking_id, sum(amount_minor) AS refunded FROM refunds WHERE status <> 'failed' GROUP BY booking_id
              ) r ON r.booking_id = b.id
              WHERE b.confirmed_at IS NOT NULL
              GROUP BY b.showtime_id
            ), per AS MATERIALIZED (
              SELECT st.id, st.movie_id, st.hall_id, st.cinema_id, st.status, st.currency, st.local_start,
                     COALESCE(sold.sold, 0) AS sold, COALESCE(money.gross, 0) AS gross, COALESCE(money.refunds, 0) AS refunds,
                     CASE WHEN st.status = 'scheduled' AND st.capacity > 0 THEN 100.0 * COALESCE(sold.sold, 0) / st.capacity END AS occupancy,
                     -- The time slot: the number of slot starts at or before the local time of day,
                     -- or the last slot before the first start (it runs on past midnight).
                     COALESCE(NULLIF(width_bucket(
                       (extract(hour FROM st.local_start) * 60 + extract(minute FROM st.local_start))::int,
                       \(slots.startMinutes)::int[]), 0), \(slots.slots.count)) AS slot_index
              FROM st
              LEFT JOIN sold ON sold.showtime_id = st.id
              LEFT JOIN money ON money.showtime_id = st.id
            ), keyed AS (
              \(unescaped: Self.keyedSQL(grouping))
            )
            SELECT false AS is_total, key, label, sort1, sort2, currency,
                   count(*) FILTER (WHERE status = 'scheduled') AS showtimes,
                   count(*) FILTER (WHERE status = 'cancelled') AS cancelled_showtimes,
                   sum(sold) AS tickets_sold, sum(gross) AS gross, sum(refunds) AS refunds,
                   round(avg(occupancy), 2) AS average_occupancy
            FROM keyed GROUP BY key, label, sort1, sort2, currency
            UNION ALL
            SELECT true, NULL, NULL, NULL, NULL, currency,
                   count(*) FILTER (WHERE status = 'scheduled'),
                   count(*) FILTER (WHERE status = 'cancelled'),
                   sum(sold), sum(gross), sum(refunds), round(avg(occupancy), 2)
            FROM per GROUP BY currency
            ORDER BY is_total, sort1, sort2, key, currency
            """)
        var groups: [RevenueRow] = []
        var totals: [RevenueRow] = []
        for row in rows {
            let item = RevenueRow(
                key: try row.decode(String?.self, column: "key"),
                label: try row.decode(String?.self, column: "label"),
                currency: try row.decode(String.self, column: "currency"),
                showtimes: try row.decode(Int.self, column: "showtimes"),
                cancelledShowtimes: try row.decode(Int.self, column: "cancelled_showtimes"),
                ticketsSold: try row.decode(Int.self, column: "tickets_sold"),
                grossMinor: try row.decode(Int.self, column: "gross"),
                refundsMinor: try row.decode(Int.self, column: "refunds"),
                averageOccupancyPercent: try row.decode(Double?.self, column: "average_occupancy")
            )
            if try row.decode(Bool.self, column: "is_total") { totals.append(item) } else { groups.append(item) }
        }
        return RevenueReport(groupBy: grouping, period: period, timeZone: (zone ?? timeZone).identifier, groups: groups, totals: totals)
    }

    /// `per` with each showtime's group: key, label and sort columns (sort1 int, sort2 text).
    /// A movie with several genres counts in each of them; one without is in the `NULL` group.
    static func keyedSQL(_ grouping: RevenueGrouping) -> String {
        switch grouping {
        case .movie:
            """
            SELECT per.*, m.id::text AS key, m.title AS label, 0 AS sort1, lower(m.title) AS sort2
            FROM per JOIN movies m ON m.id = per.movie_id
            """
        case .genre:
            """
            SELECT per.*, g.id::text AS key, COALESCE(g.name, '(no genre)') AS label,
                   (g.id IS NULL)::int AS sort1, lower(g.name) AS sort2
            FROM per LEFT JOIN movie_genres mg ON mg.movie_id = per.movie_id LEFT JOIN genres g ON g.id = mg.genre_id
            """
        case .hall:
            """
            SELECT per.*, h.id::text AS key, h.name AS label, 0 AS sort1, lower(h.name) AS sort2
            FROM per JOIN halls h ON h.id = per.hall_id
            """
        case .cinema:
            """
            SELECT per.*, c.id::text AS key, c.name AS label, 0 AS sort1, lower(c.city || ' ' || c.name) AS sort2
            FROM per JOIN cinemas c ON c.id = per.cinema_id
            """
        case .city:
            """
            SELECT per.*, c.city AS key, c.city AS label, 0 AS sort1, lower(c.city) AS sort2
            FROM per JOIN cinemas c ON c.id = per.cinema_id
            """
        case .day:
            """
            SELECT per.*, to_char(local_start, 'YYYY-MM-DD') AS key, to_char(local_start, 'YYYY-MM-DD') AS label,
                   0 AS sort1, '' AS sort2
            FROM per
            """
        case .dayOfWeek:
            """
            SELECT per.*, extract(isodow FROM local_start)::int::text AS key, trim(to_char(local_start, 'Day')) AS label,
                   extract(isodow FROM local_start)::int AS sort1, '' AS sort2
            FROM per
            """
        case .timeSlot:
            """
            SELECT per.*, t.name AS key, t.name AS label, per.slot_index AS sort1, '' AS sort2
            FROM per JOIN slot_names t ON t.n = per.slot_index
            """
        }
    }

    // MARK: - Reservations

    /// Bookings matching the filter, oldest first (by creation, then id), with user, showtime,
    /// seats (in row order) and what was refunded.
    public func reservations(_ filter: ReservationFilter, after cursor: ReportCursor?, limit: Int) async throws -> ReportPage<ReservationRow> {
        let cursorID = try cursor.map { cursor throws(BoxOfficeError) in
            guard let id = UUID(uuidString: cursor.id) else { throw Self.badCursor }
            return id
        }
        let statuses = filter.statuses.isEmpty ? nil : filter.statuses.map(\.rawValue)
        let rows = try await query("""
            WITH page AS (
              SELECT b.* FROM bookings b
              WHERE (\(filter.showtimeID)::bigint IS NULL OR b.showtime_id = \(filter.showtimeID))
                AND (\(filter.movieID)::bigint IS NULL
                     OR b.showtime_id IN (SELECT s.id FROM showtimes s WHERE s.movie_id = \(filter.movieID)))
                AND (\(filter.userID)::uuid IS NULL OR b.user_id = \(filter.userID))
                AND (\(filter.cinemaID)::bigint IS NULL OR b.showtime_id IN (
                       SELECT s.id FROM showtimes s JOIN halls h ON h.id = s.hall_id WHERE h.cinema_id = \(filter.cinemaID)))
                AND (\(statuses)::text[] IS NULL OR b.status = ANY(\(statuses)::text[]))
                AND (\(filter.period?.from)::timestamptz IS NULL OR b.created_at >= \(filter.period?.from))
                AND (\(filter.period?.to)::timestamptz IS NULL OR b.created_at < \(filter.period?.to))
                AND (\(cursorID)::uuid IS NULL
                     OR (b.created_at, b.id) > (timestamptz 'epoch' + \(cursor?.microseconds) * interval '1 microsecond', \(cursorID)))
              ORDER BY b.created_at, b.id
              LIMIT \(limit + 1)
            )
            SELECT b.id, b.created_at, b.status, b.amount_minor, b.currency, b.confirmed_at, b.cancelled_at,
              (extract(epoch FROM b.created_at) * 1000000)::bigint AS cursor_us,
              u.id AS user_id, u.email AS user_email, u.name AS user_name,
              s.id AS showtime_id, s.starts_at, m.id AS movie_id, m.title AS movie_title, h.id AS hall_id, h.name AS hall_name,
              seat.ids AS seat_ids, seat.rows AS seat_rows, seat.numbers AS seat_numbers, seat.prices AS seat_prices,
              (SELECT COALESCE(sum(r.amount_minor), 0) FROM refunds r
               WHERE r.booking_id = b.id AND r.status <> 'failed') AS refunded
            FROM page b
            JOIN users u ON u.id = b.user_id
            JOIN showtimes s ON s.id = b.showtime_id
            JOIN movies m ON m.id = s.movie_id
            JOIN halls h ON h.id = s.hall_id
            CROSS JOIN LATERAL (
              SELECT array_agg(bs.seat_id ORDER BY se.row_index, se.position) AS ids,
                     array_agg(se.row_label ORDER BY se.row_index, se.position) AS rows,
                     array_agg(se.number ORDER BY se.row_index, se.position) AS numbers,
                     array_agg(bs.price_minor ORDER BY se.row_index, se.position) AS prices
              FROM booking_seats bs JOIN seats se ON se.id = bs.seat_id
              WHERE bs.booking_id = b.id
            ) seat
            ORDER BY b.created_at, b.id
            """)
        var items: [ReservationRow] = []
        items.reserveCapacity(min(rows.count, limit))
        var next: ReportCursor?
        for (index, row) in rows.enumerated() {
            guard index < limit else { break }
            let ids = try row.decode([Int]?.self, column: "seat_ids") ?? []
            let labels = try row.decode([String]?.self, column: "seat_rows") ?? []
            let numbers = try row.decode([Int]?.self, column: "seat_numbers") ?? []
            let prices = try row.decode([Int]?.self, column: "seat_prices") ?? []
            let seats = ids.indices.map { ReservationRow.Seat(id: ids[$0], row: labels[$0], number: numbers[$0], priceMinor: prices[$0]) }
            let item = ReservationRow(
                id: try row.decode(UUID.self, column: "id"),
                createdAt: try row.decode(Date.self, column: "created_at"),
                status: try row.decode(String.self, column: "status"),
                amountMinor: try row.decode(Int.self, column: "amount_minor"),
                refundedMinor: try row.decode(Int.self, column: "refunded"),
                currency: try row.decode(String.self, column: "currency"),
                confirmedAt: try row.decode(Date?.self, column: "confirmed_at"),
                cancelledAt: try row.decode(Date?.self, column: "cancelled_at"),
                user: .init(
                    id: try row.decode(UUID.self, column: "user_id"),
                    email: try row.decode(String.self, column: "user_email"),
                    name: try row.decode(String.self, column: "user_name")
                ),
                showtime: .init(
                    id: try row.decode(Int.self, column: "showtime_id"),
                    startsAt: try row.decode(Date.self, column: "starts_at"),
                    movie: ReportRef(id: try row.decode(Int.self, column: "movie_id"), name: try row.decode(String.self, column: "movie_title")),
                    hall: ReportRef(id: try row.decode(Int.self, column: "hall_id"), name: try row.decode(String.self, column: "hall_name"))
                ),
                seats: seats
            )
            items.append(item)
            if index == limit - 1, rows.count > limit {
                next = ReportCursor(microseconds: try row.decode(Int64.self, column: "cursor_us"), id: item.id.canonical)
            }
        }
        return ReportPage(items: items, nextCursor: next)
    }

    /// Runs a report query in a transaction of its own with JIT compilation off: these are
    /// costly enough for PostgreSQL to JIT-compile them, which takes longer than running them.
    /// And planned for each run's values: the client prepares statements, and a generic plan
    /// made for a report without filters would scan everything for one with them.
    func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await postgres.withTransaction(planning: .custom) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL jit = off"))
            return try await connection.query(query)
        }
    }

    static let badCursor = BoxOfficeError.validation(field: "cursor", "is not a next_cursor of this report; start again without it.")
}
