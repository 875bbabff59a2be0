import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresClient
import RedisClient
import Testing

/// A small cinema whose figures are worked out by hand, inserted as rows (bookings, payments
/// and refunds are not made through checkout here). Cinema time zone: Europe/Berlin (UTC+1
/// in January).
///
/// | showtime | movie (genres)         | hall (seats)  | local start          | UTC start         |
/// |----------|------------------------|---------------|----------------------|-------------------|
/// | s1       | Alpha (Drama, Comedy)  | Hall 1 (10)   | Thu 2026-01-15 19:30 | 2026-01-15 18:30Z |
/// | s2       | Beta (Drama)           | Hall 2 (4)    | Fri 2026-01-16 00:30 | 2026-01-15 23:30Z |
/// | s3       | Gamma (no genre), cancelled | Hall 1 (10) | Fri 2026-01-16 14:00 | 2026-01-16 13:00Z |
///
/// s2 starts on the 16th in Berlin but on the 15th in UTC; at 00:30 it is a `late` showing.
///
/// | booking | showtime | user  | status                   | seats (price)          | amount | refunds                           |
/// |---------|----------|-------|--------------------------|------------------------|--------|-----------------------------------|
/// | b1      | s1       | ann   | confirmed                | A1, A2 (1000 each)     | 2000   |                                   |
/// | b2      | s1       | bob   | confirmed, then cancelled | A3 (1000), freed      | 1000   | 1000 succeeded                    |
/// | b3      | s1       | ann   | confirmed                | A4, A5, A6 (1000 each) | 3000   | 500 requested, 3000 failed        |
/// | b4      | s1       | bob   | expired (never confirmed) | A7, inactive          | 1000   |                                   |
/// | b5      | s2       | bob   | confirmed                | A1 (1500)              | 1500   |                                   |
/// | b6      | s3       | ann   | confirmed, then cancelled with the showtime | A1, A2, freed | 2000 | 2000 succeeded   |
///
/// By hand (gross = confirmed at some point; refunds = not failed; net = gross − refunds):
/// - s1: capacity 10, sold 5 (A1 A2 A4 A5 A6), occupancy 50.00, gross 2000+1000+3000 = 6000,
///   refunds 1000+500 = 1500, net 4500.
/// - s2: capacity 4, sold 1, occupancy 25.00, gross 1500, refunds 0, net 1500.
/// - s3: capacity 10, sold 0, occupancy 0, gross 2000, refunds 2000, net 0 (cancelled).
/// - totals: 2 scheduled + 1 cancelled showtimes, 6 tickets, gross 9500, refunds 3500,
///   net 6000, average occupancy (50 + 25) / 2 = 37.50.
struct ReportFixture {
    var s1 = 0, s2 = 0, s3 = 0
    var alpha = 0, beta = 0, gamma = 0
    var hall1 = 0, hall2 = 0
    var drama = 0, comedy = 0
    var ann: UUID!
    var bob: UUID!
    var bookings: [String: UUID] = [:]

    static func insert(_ app: TestApp, bobName: String = "Bob") async throws -> ReportFixture {
        let db = app.dependencies.postgres
        var f = ReportFixture()
        func id(_ rows: PostgresRows) throws -> Int { try rows.first!.decode(Int.self, column: "id") }

        f.ann = try await db.query("""
            INSERT INTO users (email, password_hash, name) VALUES ('ann@example.com', 'x', 'Ann') RETURNING id
            """).first!.decode(UUID.self, column: "id")
        f.bob = try await db.query("""
            INSERT INTO users (email, password_hash, name) VALUES ('bob@example.com', 'x', \(bobName)) RETURNING id
            """).first!.decode(UUID.self, column: "id")
        f.drama = try id(try await db.query("INSERT INTO genres (name) VALUES ('Drama') RETURNING id"))
        f.comedy = try id(try await db.query("INSERT INTO genres (name) VALUES ('Comedy') RETURNING id"))
        f.alpha = try id(try await db.query("INSERT INTO movies (title, duration_minutes) VALUES ('Alpha', 100) RETURNING id"))
        f.beta = try id(try await db.query("INSERT INTO movies (title, duration_minutes) VALUES ('Beta', 90) RETURNING id"))
        f.gamma = try id(try await db.query("INSERT INTO movies (title, duration_minutes) VALUES ('Gamma', 95) RETURNING id"))
        try await db.query("""
            INSERT INTO movie_genres (movie_id, genre_id)
            VALUES (\(f.alpha), \(f.drama)), (\(f.alpha), \(f.comedy)), (\(f.beta), \(f.drama))
            """)
        f.hall1 = try await makeHall(db, "Hall 1", seats: 10)
        f.hall2 = try await makeHall(db, "Hall 2", seats: 4)

        f.s1 = try await makeShowtime(db, movie: f.alpha, hall: f.hall1, startsAt: "2026-01-15 18:30:00+00", price: 1000)
        f.s2 = try await makeShowtime(db, movie: f.beta, hall: f.hall2, startsAt: "2026-01-15 23:30:00+00", price: 1500)
        f.s3 = try await makeShowtime(db, movie: f.gamma, hall: f.hall1, startsAt: "2026-01-16 13:00:00+00", price: 1000)
        try await db.query("UPDATE showtimes SET status = 'cancelled', cancelled_at = '2026-01-10 12:00:00+00' WHERE id = \(f.s3)")

        f.bookings["b1"] = try await book(db, f.s1, user: f.ann, status: "confirmed", seats: ["A1", "A2"], price: 1000, createdAt: "2026-01-02 10:00:00+00")
        f.bookings["b2"] = try await book(db, f.s1, user: f.bob, status: "cancelled", seats: ["A3"], price: 1000, createdAt: "2026-01-03 10:00:00+00")
        f.bookings["b3"] = try await book(db, f.s1, user: f.ann, status: "confirmed", seats: ["A4", "A5", "A6"], price: 1000, createdAt: "2026-01-04 10:00:00+00")
        f.bookings["b4"] = try await book(db, f.s1, user: f.bob, status: "expired", seats: ["A7"], price: 1000, createdAt: "2026-01-05 10:00:00+00")
        f.bookings["b5"] = try await book(db, f.s2, user: f.bob, status: "confirmed", seats: ["A1"], price: 1500, createdAt: "2026-01-06 10:00:00+00")
        f.bookings["b6"] = try await book(db, f.s3, user: f.ann, status: "cancelled", seats: ["A1", "A2"], price: 1000, createdAt: "2026-01-07 10:00:00+00")

        try await refund(db, f.bookings["b2"]!, 1000, "succeeded")
        try await refund(db, f.bookings["b3"]!, 500, "requested")
        try await refund(db, f.bookings["b3"]!, 3000, "failed")
        try await refund(db, f.bookings["b6"]!, 2000, "succeeded")
        return f
    }

    static func makeHall(_ db: PostgresPool, _ name: String, seats: Int) async throws -> Int {
        let hall = try await db.query("INSERT INTO halls (name) VALUES (\(name)) RETURNING id").first!.decode(Int.self, column: "id")
        try await db.query("""
            INSERT INTO seats (hall_id, row_label, row_index, number, position, x, y)
            SELECT \(hall), 'A', 0, n, n - 1, n - 1, 0 FROM generate_series(1, \(seats)) AS n
            """)
        return hall
    }

    /// A showtime at `startsAt` (UTC), one seat row per seat of the hall, all available.
    static func makeShowtime(_ db: PostgresPool, movie: Int, hall: Int, startsAt: String, price: Int, id: Int? = nil) async throws -> Int {
        let showtime = try await db.query("""
            INSERT INTO showtimes (id, movie_id, hall_id, starts_at, ends_at)
            OVERRIDING SYSTEM VALUE
            VALUES (COALESCE(\(id)::bigint, nextval(pg_get_serial_sequence('showtimes', 'id'))), \(movie), \(hall),
                    \(startsAt)::timestamptz, \(startsAt)::timestamptz + interval '2 hours')
            RETURNING id
            """).first!.decode(Int.self, column: "id")
        try await db.query("INSERT INTO showtime_prices (showtime_id, category, price_minor) VALUES (\(showtime), 'standard', \(price))")
        try await db.query("""
            INSERT INTO showtime_seats (showtime_id, seat_id) SELECT \(showtime), id FROM seats WHERE hall_id = \(hall)
            """)
        return showtime
    }

    /// A booking with a payment; `confirmed` ones hold their seats, `cancelled` ones were
    /// confirmed before (their seats are free again), others never were.
    static func book(
        _ db: PostgresPool, _ showtime: Int, user: UUID, status: String, seats: [String], price: Int, createdAt: String
    ) async throws -> UUID {
        let wasConfirmed = status == "confirmed" || status == "cancelled"
        let booking = try await db.query("""
            INSERT INTO bookings (user_id, showtime_id, hold_id, status, amount_minor, currency, created_at, confirmed_at, cancelled_at)
            VALUES (\(user), \(showtime), \(UUID().uuidString), \(status), \(price * seats.count), 'EUR', \(createdAt)::timestamptz,
                    CASE WHEN \(wasConfirmed) THEN \(createdAt)::timestamptz + interval '5 minutes' END,
                    CASE WHEN \(status) = 'cancelled' THEN \(createdAt)::timestamptz + interval '1 day' END)
            RETURNING id
            """).first!.decode(UUID.self, column: "id")
        let seatIDs = try await db.query("""
            SELECT se.id FROM showtime_seats ss JOIN seats se ON se.id = ss.seat_id
            WHERE ss.showtime_id = \(showtime) AND 'A' || se.number = ANY(\(seats)::text[])
            """).map { try $0.decode(Int.self, column: "id") }
        if status == "confirmed" {
            try await db.query("""
                UPDATE showtime_seats SET status = 'sold', booking_id = \(booking), version = version + 1
                WHERE showtime_id = \(showtime) AND seat_id = ANY(\(seatIDs))
                """)
        }
        try await db.query("""
            INSERT INTO booking_seats (booking_id, showtime_id, seat_id, price_minor, expected_version, active)
            SELECT \(booking), \(showtime), seat, \(price), 0, \(status == "confirmed") FROM unnest(\(seatIDs)) AS seat
            """)
        if wasConfirmed {
            try await db.query("""
                INSERT INTO payments (booking_id, provider, provider_payment_id, amount_minor, currency, status)
                VALUES (\(booking), 'test', \(UUID().uuidString), \(price * seats.count), 'EUR', 'succeeded')
                """)
        }
        return booking
    }

    static func refund(_ db: PostgresPool, _ booking: UUID, _ amount: Int, _ status: String) async throws {
        try await db.query("""
            INSERT INTO refunds (booking_id, amount_minor, currency, reason, status)
            VALUES (\(booking), \(amount), 'EUR', 'test', \(status))
            """)
    }
}

@Suite struct ReportsTests {
    // MARK: - Showtimes

    @Test func showtimesReportGivesEachShowtimesSalesWorkedOutByHand() async throws {
        try await TestApp.run { app in
            let f = try await ReportFixture.insert(app)
            let admin = try await app.makeUser(role: .admin)
            let response = try await app.request(.get, "/admin/reports/showtimes?from=2026-01-15&to=2026-01-16", as: admin)
            #expect(response.status == .ok)
            let body = try response.json()
            let items = body["items"] as? [[String: Any]] ?? []
            #expect(items.map { $0["id"] as? Int } == [f.s1, f.s2, f.s3])
            #expect(body["next_cursor"] is NSNull)

            let s1 = items[0]
            #expect((s1["movie"] as? [String: Any])?["title"] as? String == "Alpha")
            #expect((s1["hall"] as? [String: Any])?["name"] as? String == "Hall 1")
            #expect(s1["starts_at"] as? String == "2026-01-15T18:30:00Z")
            #expect(s1["starts_at_local"] as? String == "2026-01-15T19:30")
            #expect(s1["capacity"] as? Int == 10)
            #expect(s1["sold"] as? Int == 5)
            // Over: nothing can be held any more.
            #expect(s1["held"] as? Int == 0)
            #expect(s1["available"] as? Int == 5)
            #expect(s1["occupancy_pct"] as? Double == 50)
            #expect(s1["gross_minor"] as? Int == 6000)
            #expect(s1["refunds_minor"] as? Int == 1500)
            #expect(s1["net_minor"] as? Int == 4500)

            let s2 = items[1]
            #expect(s2["starts_at_local"] as? String == "2026-01-16T00:30")
            #expect(s2["capacity"] as? Int == 4)
            #expect(s2["sold"] as? Int == 1)
            #expect(s2["occupancy_pct"] as? Double == 25)
            #expect(s2["gross_minor"] as? Int == 1500)
            #expect(s2["refunds_minor"] as? Int == 0)
            #expect(s2["net_minor"] as? Int == 1500)

            let s3 = items[2]
            #expect(s3["status"] as? String == "cancelled")
            #expect(s3["sold"] as? Int == 0)
            #expect(s3["occupancy_pct"] as? Double == 0)
            #expect(s3["gross_minor"] as? Int == 2000)
            #expect(s3["refunds_minor"] as? Int == 2000)
            #expect(s3["net_minor"] as? Int == 0)
        }
    }

    @Test func aDayInTheFilterIsACalendarDayInTheCinemasTimeZone() async throws {
        try await TestApp.run { app in
            let f = try await ReportFixture.insert(app)
            let admin = try await app.makeUser(role: .admin)
            // s2 starts at 23:30 UTC on the 15th, which is 00:30 on the 16th in Berlin.
            let day15 = try await app.request(.get, "/admin/reports/showtimes?from=2026-01-15&to=2026-01-15", as: admin).json()
            #expect((day15["items"] as? [[String: Any]])?.map { $0["id"] as? Int } == [f.s1])
            let day16 = try await app.request(.get, "/admin/reports/showtimes?from=2026-01-16&to=2026-01-16", as: admin).json()
            #expect((day16["items"] as? [[String: Any]])?.map { $0["id"] as? Int } == [f.s2, f.s3])
            // Instants work too, `to` exclusive.
            let instants = try await app.request(
                .get, "/admin/reports/showtimes?from=2026-01-15T18:30:00Z&to=2026-01-15T23:30:00Z", as: admin
            ).json()
            #expect((instants["items"] as? [[String: Any]])?.map { $0["id"] as? Int } == [f.s1])
        }
    }

    @Test func showtimesReportPagesWithACursorWithoutGapsOrRepeats() async throws {
        try await TestApp.run { app in
            let f = try await ReportFixture.insert(app)
            let admin = try await app.makeUser(role: .admin)
            let first = try await app.request(.get, "/admin/reports/showtimes?from=2026-01-01&to=2026-01-31&limit=2", as: admin).json()
            #expect((first["items"] as? [[String: Any]])?.map { $0["id"] as? Int } == [f.s1, f.s2])
            let cursor = try #require(first["next_cursor"] as? String)
            let second = try await app.request(.get, "/admin/reports/showtimes?from=2026-01-01&to=2026-01-31&limit=2&cursor=\(cursor)", as: admin).json()
            #expect((second["items"] as? [[String: Any]])?.map { $0["id"] as? Int } == [f.s3])
            #expect(second["next_cursor"] is NSNull)
        }
    }

    @Test func heldSeatsComeFromTheRedisSeatCountsOfShowtimesOnSale() async throws {
        try await TestApp.run { app in
            let f = try await ReportFixture.insert(app)
            let admin = try await app.makeUser(role: .admin)
            // An id of its own, so that tests sharing this Redis never meet in its keys.
            let showtimeID = Int.random(in: 1_000_000_000...2_000_000_000)
            let startsAt = Date().addingTimeInterval(2 * 86400)
            _ = try await ReportFixture.makeShowtime(
                app.dependencies.postgres, movie: f.beta, hall: f.hall2,
                startsAt: SchedulingTime.format(startsAt), price: 1500, id: showtimeID
            )
            let key = ShowtimeKeys(showtimeID: showtimeID).userSeatCounts
            _ = try await app.dependencies.redis.send(RedisCommand(["HSET", key, UUID().uuidString, "2", UUID().uuidString, "1"]))

            let from = SchedulingTime.format(startsAt.addingTimeInterval(-60))
            let to = SchedulingTime.format(startsAt.addingTimeInterval(60))
            let body = try await app.request(.get, "/admin/reports/showtimes?from=\(from)&to=\(to)", as: admin).json()
            let item = try #require((body["items"] as? [[String: Any]])?.first)
            #expect(item["id"] as? Int == showtimeID)
            #expect(item["capacity"] as? Int == 4)
            #expect(item["sold"] as? Int == 0)
            #expect(item["held"] as? Int == 3)
            #expect(item["available"] as? Int == 1)
            _ = try await app.dependencies.redis.send(.del([key]))
        }
    }

    @Test func heldIsNullWhenRedisIsDownAndTheReportStillAnswers() async throws {
        try await TestServices.withDatabase { configuration in
            let deadRedis = RedisConfiguration(host: "127.0.0.1", port: 1)
            try await TestServices.withDependencies(postgres: configuration, redis: deadRedis) { dependencies in
                let application = buildApplication(dependencies, settings: TestServices.serverSettings, logger: Logger(label: "test"))
                try await application.test(.router) { client in
                    let app = TestApp(client: client, dependencies: dependencies)
                    let f = try await ReportFixture.insert(app)
                    let admin = try await app.makeUser(role: .admin)
                    let startsAt = Date().addingTimeInterval(3 * 86400)
                    let upcoming = try await ReportFixture.makeShowtime(
                        dependencies.postgres, movie: f.beta, hall: f.hall2, startsAt: SchedulingTime.format(startsAt), price: 1500
                    )
                    let to = SchedulingTime.format(startsAt.addingTimeInterval(60))
                    let response = try await app.request(.get, "/admin/reports/showtimes?from=2026-01-15&to=\(to)", as: admin)
                    #expect(response.status == .ok)
                    let items = try response.json()["items"] as? [[String: Any]] ?? []
                    #expect(items.map { $0["id"] as? Int } == [f.s1, f.s2, f.s3, upcoming])
                    let last = try #require(items.last)
                    #expect(last["held"] is NSNull)
                    #expect(last["available"] is NSNull)
                    #expect(last["capacity"] as? Int == 4)
                    // Showtimes that are over hold nothing, Redis or not.
                    #expect(items.first?["held"] as? Int == 0)

                    let csv = try await app.request(.get, "/admin/reports/showtimes?from=2026-01-15&to=\(to)&format=csv", as: admin)
                    #expect(csv.status == .ok)
                    let lines = String(buffer: csv.body).split(separator: "\r\n")
                    #expect(lines.count == 5)
                    #expect(lines.last?.contains(",4,0,,,0.00,0,0,0") == true)
                }
            }
        }
    }

    @Test func showtimesReportAnswersCSVWhenAskedByAcceptOrFormat() async throws {
        try await TestApp.run { app in
            let f = try await ReportFixture.insert(app)
            let admin = try await app.makeUser(role: .admin)
            let byAccept = try await app.request(
                .get, "/admin/reports/showtimes?from=2026-01-15&to=2026-01-16", as: admin, headers: [.accept: "text/csv"]
            )
            let byFormat = try await app.request(.get, "/admin/reports/showtimes?from=2026-01-15&to=2026-01-16&format=csv", as: admin)
            for response in [byAccept, byFormat] {
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/csv; charset=utf-8")
                let lines = String(buffer: response.body).components(separatedBy: "\r\n")
                #expect(lines.first == "showtime_id,movie_id,movie_title,hall_id,hall_name,starts_at,starts_at_local,status,currency,capacity,sold,held,available,occupancy_pct,gross_minor,refunds_minor,net_minor")
                #expect(lines[1] == "\(f.s1),\(f.alpha),Alpha,\(f.hall1),Hall 1,2026-01-15T18:30:00Z,2026-01-15T19:30,scheduled,EUR,10,5,0,5,50.00,6000,1500,4500")
                #expect(lines[3].hasPrefix("\(f.s3),\(f.gamma),Gamma,"))
                #expect(lines.count == 5 && lines[4] == "")
            }
            // ?format=json wins over Accept.
            let json = try await app.request(
                .get, "/admin/reports/showtimes?from=2026-01-15&to=2026-01-16&format=json", as: admin, headers: [.accept: "text/csv"]
            )
            #expect(json.headers[.contentType]?.hasPrefix("application/json") == true)
        }
    }

    // MARK: - Revenue

    @Test func revenueByDayTakesDaysInTheCinemasTimeZone() async throws {
        try await TestApp.run { app in
            _ = try await ReportFixture.insert(app)
            let admin = try await app.makeUser(role: .admin)
            let body = try await app.request(.get, "/admin/reports/revenue?from=2026-01-15&to=2026-01-16&group_by=day", as: admin).json()
            #expect(body["group_by"] as? String == "day")
            #expect(body["time_zone"] as? String == "Europe/Berlin")
            let groups = body["groups"] as? [[String: Any]] ?? []
            // s2 (00:30 on the 16th in Berlin, 23:30 on the 15th in UTC) belongs to the 16th.
            #expect(groups.map { $0["key"] as? String } == ["2026-01-15", "2026-01-16"])
            expectRow(groups[0], showtimes: 1, cancelled: 0, tickets: 5, gross: 6000, refunds: 1500, occupancy: 50)
            // s2 and the cancelled s3: 1500 + 2000 gross, s3's 2000 refunded; occupancy of s2 only.
            expectRow(groups[1], showtimes: 1, cancelled: 1, tickets: 1, gross: 3500, refunds: 2000, occupancy: 25)
            let totals = body["totals"] as? [[String: Any]] ?? []
            #expect(totals.count == 1)
            #expect(totals.first?["currency"] as? String == "EUR")
            #expect(totals.first?["key"] is NSNull)
            expectRow(totals[0], showtimes: 2, cancelled: 1, tickets: 6, gross: 9500, refunds: 3500, occupancy: 37.5)
        }
    }

    @Test func revenueByDayOfWeekAndTimeSlotUseTheLocalStart() async throws {
        try await TestApp.run { app in
            _ = try await ReportFixture.insert(app)
            let admin = try await app.makeUser(role: .admin)
            let week = try await app.request(.get, "/admin/reports/revenue?from=2026-01-15&to=2026-01-16&group_by=day_of_week", as: admin).json()
            let days = week["groups"] as? [[String: Any]] ?? []
            #expect(days.map { $0["key"] as? String } == ["4", "5"])
            #expect(days.map { $0["label"] as? String } == ["Thursday", "Friday"])
            expectRow(days[1], showtimes: 1, cancelled: 1, tickets: 1, gross: 3500, refunds: 2000, occupancy: 25)

            let slots = try await app.request(.get, "/admin/reports/revenue?from=2026-01-15&to=2026-01-16&group_by=time_slot", as: admin).json()
            let groups = slots["groups"] as? [[String: Any]] ?? []
            // In slot order; s2 at 00:30 is still `late`; s3 (14:00) is a cancelled matinee.
            #expect(groups.map { $0["key"] as? String } == ["matinee", "evening", "late"])
            expectRow(groups[0], showtimes: 0, cancelled: 1, tickets: 0, gross: 2000, refunds: 2000, occupancy: nil)
            expectRow(groups[1], showtimes: 1, cancelled: 0, tickets: 5, gross: 6000, refunds: 1500, occupancy: 50)
            expectRow(groups[2], showtimes: 1, cancelled: 0, tickets: 1, gross: 1500, refunds: 0, occupancy: 25)
        }
    }

    @Test func revenueByGenreCountsAMovieInEachOfItsGenresButOnceInTheTotals() async throws {
        try await TestApp.run { app in
            let f = try await ReportFixture.insert(app)
            let admin = try await app.makeUser(role: .admin)
            let body = try await app.request(.get, "/admin/reports/revenue?from=2026-01-15&to=2026-01-16&group_by=genre", as: admin).json()
            let groups = body["groups"] as? [[String: Any]] ?? []
            #expect(groups.map { $0["label"] as? String } == ["Comedy", "Drama", "(no genre)"])
            #expect(groups[0]["key"] as? String == String(f.comedy))
            #expect(groups[2]["key"] is NSNull)
            expectRow(groups[0], showtimes: 1, cancelled: 0, tickets: 5, gross: 6000, refunds: 1500, occupancy: 50)  // s1
            expectRow(groups[1], showtimes: 2, cancelled: 0, tickets: 6, gross: 7500, refunds: 1500, occupancy: 37.5)  // s1 + s2
            expectRow(groups[2], showtimes: 0, cancelled: 1, tickets: 0, gross: 2000, refunds: 2000, occupancy: nil)  // s3
            let totals = body["totals"] as? [[String: Any]] ?? []
            expectRow(totals[0], showtimes: 2, cancelled: 1, tickets: 6, gross: 9500, refunds: 3500, occupancy: 37.5)
        }
    }

    @Test func revenueByMovieAndByHall() async throws {
        try await TestApp.run { app in
            let f = try await ReportFixture.insert(app)
            let admin = try await app.makeUser(role: .admin)
            let movies = try await app.request(.get, "/admin/reports/revenue?from=2026-01-15&to=2026-01-16&group_by=movie", as: admin).json()
            let byMovie = movies["groups"] as? [[String: Any]] ?? []
            #expect(byMovie.map { $0["key"] as? String } == [f.alpha, f.beta, f.gamma].map(String.init))
            expectRow(byMovie[0], showtimes: 1, cancelled: 0, tickets: 5, gross: 6000, refunds: 1500, occupancy: 50)

            let halls = try await app.request(.get, "/admin/reports/revenue?from=2026-01-15&to=2026-01-16&group_by=hall", as: admin).json()
            let byHall = halls["groups"] as? [[String: Any]] ?? []
            #expect(byHall.map { $0["label"] as? String } == ["Hall 1", "Hall 2"])
            // s1 and the cancelled s3.
            expectRow(byHall[0], showtimes: 1, cancelled: 1, tickets: 5, gross: 8000, refunds: 3500, occupancy: 50)
            expectRow(byHall[1], showtimes: 1, cancelled: 0, tickets: 1, gross: 1500, refunds: 0, occupancy: 25)

            let csv = try await app.request(.get, "/admin/reports/revenue?from=2026-01-15&to=2026-01-16&group_by=hall&format=csv", as: admin)
            #expect(String(buffer: csv.body) == """
                key,label,currency,showtimes,cancelled_showtimes,tickets_sold,gross_minor,refunds_minor,net_minor,average_occupancy_pct\r
                \(f.hall1),Hall 1,EUR,1,1,5,8000,3500,4500,50.00\r
                \(f.hall2),Hall 2,EUR,1,0,1,1500,0,1500,25.00\r

                """)
        }
    }

    @Test func revenueOfAPeriodWithoutShowtimesIsEmpty() async throws {
        try await TestApp.run { app in
            _ = try await ReportFixture.insert(app)
            let admin = try await app.makeUser(role: .admin)
            let body = try await app.request(.get, "/admin/reports/revenue?from=2025-01-01&to=2025-12-31&group_by=day", as: admin).json()
            #expect((body["groups"] as? [Any])?.isEmpty == true)
            #expect((body["totals"] as? [Any])?.isEmpty == true)
        }
    }

    // MARK: - Reservations

    @Test func reservationsListEveryBookingWithUserSeatsAmountAndStatus() async throws {
        try await TestApp.run { app in
            let f = try await ReportFixture.insert(app)
            let admin = try await app.makeUser(role: .admin)
            let body = try await app.request(.get, "/admin/reports/reservations", as: admin).json()
            let items = body["items"] as? [[String: Any]] ?? []
            #expect(items.map { $0["id"] as? String } == ["b1", "b2", "b3", "b4", "b5", "b6"].map { f.bookings[$0]!.canonical })
            let b3 = items[2]
            #expect(b3["status"] as? String == "confirmed")
            #expect(b3["amount_minor"] as? Int == 3000)
            #expect(b3["refunded_minor"] as? Int == 500)  // the failed refund returned nothing
            #expect(b3["currency"] as? String == "EUR")
            #expect((b3["user"] as? [String: Any])?["email"] as? String == "ann@example.com")
            let showtime = b3["showtime"] as? [String: Any]
            #expect(showtime?["id"] as? Int == f.s1)
            #expect((showtime?["movie"] as? [String: Any])?["title"] as? String == "Alpha")
            let seats = b3["seats"] as? [[String: Any]] ?? []
            #expect(seats.map { "\($0["row"] as? String ?? "")\($0["number"] as? Int ?? 0)" } == ["A4", "A5", "A6"])
            #expect(seats.map { $0["price_minor"] as? Int } == [1000, 1000, 1000])
            #expect(items[1]["cancelled_at"] as? String != nil)
            #expect(items[3]["confirmed_at"] is NSNull)
        }
    }

    @Test func reservationsFilterByShowtimeMovieUserStatusAndPeriod() async throws {
        try await TestApp.run { app in
            let f = try await ReportFixture.insert(app)
            let admin = try await app.makeUser(role: .admin)
            func ids(_ query: String) async throws -> [String] {
                let body = try await app.request(.get, "/admin/reports/reservations?\(query)", as: admin).json()
                let items = body["items"] as? [[String: Any]] ?? []
                return items.compactMap { item in f.bookings.first { $0.value.canonical == item["id"] as? String }?.key }
            }
            #expect(try await ids("showtime_id=\(f.s1)") == ["b1", "b2", "b3", "b4"])
            #expect(try await ids("movie_id=\(f.beta)") == ["b5"])
            #expect(try await ids("user_id=\(f.ann.uuidString)") == ["b1", "b3", "b6"])
            #expect(try await ids("status=confirmed") == ["b1", "b3", "b5"])
            #expect(try await ids("status=cancelled,expired&user_id=\(f.bob.uuidString)") == ["b2", "b4"])
            // Bookings made on 3 to 5 January (Berlin).
            #expect(try await ids("from=2026-01-03&to=2026-01-05") == ["b2", "b3", "b4"])
        }
    }

    @Test func reservationsPageByCursorAndStreamAsCSVWithFormulasDefused() async throws {
        try await TestApp.run { app in
            let f = try await ReportFixture.insert(app, bobName: "=HYPERLINK(\"http://x\")")
            let admin = try await app.makeUser(role: .admin)
            let first = try await app.request(.get, "/admin/reports/reservations?limit=4", as: admin).json()
            #expect((first["items"] as? [Any])?.count == 4)
            let cursor = try #require(first["next_cursor"] as? String)
            let second = try await app.request(.get, "/admin/reports/reservations?limit=4&cursor=\(cursor)", as: admin).json()
            #expect((second["items"] as? [[String: Any]])?.map { $0["id"] as? String }
                == [f.bookings["b5"]!, f.bookings["b6"]!].map { $0.canonical })
            #expect(second["next_cursor"] is NSNull)

            let csv = try await app.request(.get, "/admin/reports/reservations?status=confirmed", as: admin, headers: [.accept: "text/csv"])
            #expect(csv.headers[.contentType] == "text/csv; charset=utf-8")
            let lines = String(buffer: csv.body).components(separatedBy: "\r\n")
            #expect(lines.count == 5)
            #expect(lines[0].hasPrefix("booking_id,created_at,status,user_id,user_email,user_name,"))
            #expect(lines[2].contains(",A4 A5 A6,3,3000,500,EUR,"))
            // Bob's name would be a formula in a spreadsheet: quoted, and prefixed with '.
            #expect(lines[3].contains(",bob@example.com,\"'=HYPERLINK(\"\"http://x\"\")\","))
        }
    }

    // MARK: - Access and validation

    @Test func reportsAreForAdminsOnly() async throws {
        try await TestApp.run { app in
            let user = try await app.makeUser(role: .user)
            for path in [
                "/admin/reports/showtimes?from=2026-01-15&to=2026-01-16",
                "/admin/reports/revenue?from=2026-01-15&to=2026-01-16",
                "/admin/reports/reservations",
            ] {
                let anonymous = try await app.request(.get, path)
                #expect(anonymous.status == .unauthorized)
                let forbidden = try await app.request(.get, path, as: user)
                #expect(forbidden.status == .forbidden)
                #expect(forbidden.problemCode == "forbidden")
            }
        }
    }

    @Test func badQueryParametersAre422WithFieldErrors() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let cases: [(String, [String])] = [
                ("/admin/reports/showtimes", ["from", "to"]),
                ("/admin/reports/showtimes?from=yesterday&to=2026-02-30", ["from", "to"]),
                ("/admin/reports/showtimes?from=2026-02-01&to=2026-01-01", ["to"]),
                ("/admin/reports/showtimes?from=2026-01-01&to=2026-01-31&limit=0&cursor=nonsense&movie_id=x&hall_id=-1",
                 ["movie_id", "hall_id", "limit", "cursor"]),
                ("/admin/reports/showtimes?from=2026-01-01&to=2026-01-31&format=xml", ["format"]),
                ("/admin/reports/revenue?from=2026-01-01&to=2026-01-31&group_by=week", ["group_by"]),
                ("/admin/reports/revenue?to=2026-01-31", ["from"]),
                ("/admin/reports/reservations?user_id=42&status=paid&showtime_id=1.5&limit=5000", ["showtime_id", "user_id", "status", "limit"]),
                ("/admin/reports/reservations?from=2026-01-01", ["to"]),
                // A cursor of another report (a showtime's id is not a booking's).
                ("/admin/reports/reservations?cursor=\(ReportCursor(microseconds: 1, id: "17").token)", ["cursor"]),
            ]
            for (path, fields) in cases {
                let response = try await app.request(.get, path, as: admin)
                #expect(response.status == .unprocessableContent, "\(path)")
                #expect(response.headers[.contentType] == "application/problem+json", "\(path)")
                #expect(response.problemCode == "validation_failed", "\(path)")
                let errors = try response.json()["errors"] as? [[String: Any]] ?? []
                #expect(errors.compactMap { $0["field"] as? String } == fields, "\(path)")
            }
        }
    }
}

private func expectRow(
    _ row: [String: Any], showtimes: Int, cancelled: Int, tickets: Int, gross: Int, refunds: Int, occupancy: Double?,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(row["showtimes"] as? Int == showtimes, sourceLocation: sourceLocation)
    #expect(row["cancelled_showtimes"] as? Int == cancelled, sourceLocation: sourceLocation)
    #expect(row["tickets_sold"] as? Int == tickets, sourceLocation: sourceLocation)
    #expect(row["gross_minor"] as? Int == gross, sourceLocation: sourceLocation)
    #expect(row["refunds_minor"] as? Int == refunds, sourceLocation: sourceLocation)
    #expect(row["net_minor"] as? Int == gross - refunds, sourceLocation: sourceLocation)
    if let occupancy {
        #expect(row["average_occupancy_pct"] as? Double == occupancy, sourceLocation: sourceLocation)
    } else {
        #expect(row["average_occupancy_pct"] is NSNull, sourceLocation: sourceLocation)
    }
}
