import BoxOffice
import BoxOfficeHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresClient
import Testing

/// A chain of cinemas: cities, cinemas with their own time zones, and the programme by each
/// cinema's own day.
@Suite struct CinemaTests {
    static func openCinema(_ app: TestApp, _ name: String, city: String, zone: String, as admin: TestApp.User) async throws -> Int {
        let opened = try await app.request(.post, "/admin/cinemas", as: admin, json: """
            {"name": "\(name)", "city": "\(city)", "address": "1 Main Street", "time_zone": "\(zone)", "currency": "JPY"}
            """)
        #expect(opened.status == .created, "\(String(buffer: opened.body))")
        return try #require(try opened.json()["id"] as? Int)
    }

    @Test func todaysHallsBelongToADefaultCinemaAndNewOnesToTheCinemaNamed() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let cinemas = try await app.request(.get, "/cinemas").json()["items"] as? [[String: Any]]
            let only = try #require(cinemas?.first)
            #expect(cinemas?.count == 1)
            #expect(only["time_zone"] as? String == "Europe/Berlin", "from the settings")
            let plain = try await app.createHall("Studio 1", as: admin)
            #expect(try await app.request(.get, "/halls/\(plain)").json()["cinema_id"] as? Int == only["id"] as? Int)

            let tokyo = try await Self.openCinema(app, "Shibuya", city: "Tokyo", zone: "Asia/Tokyo", as: admin)
            let hall = try await app.request(.post, "/admin/halls", as: admin, json: """
                {"name": "Shibuya 1", "cleaning_minutes": 15, "cinema_id": \(tokyo), "layout": \(TestApp.twoRowLayout)}
                """)
            #expect(hall.status == .created)
            #expect(try hall.json()["cinema_id"] as? Int == tokyo)
            let nowhere = try await app.request(.post, "/admin/halls", as: admin, json: """
                {"name": "Nowhere 1", "cleaning_minutes": 15, "cinema_id": 999999, "layout": \(TestApp.twoRowLayout)}
                """)
            #expect(nowhere.status == .unprocessableContent)
            #expect(nowhere.problemFields == ["cinema_id"])
        }
    }

    @Test func citiesAndCinemasAreBrowsedByCity() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            _ = try await Self.openCinema(app, "Shibuya", city: "Tokyo", zone: "Asia/Tokyo", as: admin)
            _ = try await Self.openCinema(app, "Shinjuku", city: "Tokyo", zone: "Asia/Tokyo", as: admin)
            let cities = try await app.request(.get, "/cities").json()["items"] as? [[String: Any]]
            #expect(cities?.map { $0["name"] as? String } == ["Berlin", "Tokyo"])
            #expect(cities?.map { $0["cinemas"] as? Int } == [1, 2])
            let inTokyo = try await app.request(.get, "/cinemas?city=tokyo").json()["items"] as? [[String: Any]]
            #expect(inTokyo?.map { $0["name"] as? String } == ["Shibuya", "Shinjuku"])
        }
    }

    @Test func theProgrammeTakesEachShowtimesDayInItsCinemasZone() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let tokyo = try await Self.openCinema(app, "Shibuya", city: "Tokyo", zone: "Asia/Tokyo", as: admin)
            let hall = try #require(try await app.request(.post, "/admin/halls", as: admin, json: """
                {"name": "Shibuya 1", "cleaning_minutes": 15, "cinema_id": \(tokyo), "layout": \(TestApp.twoRowLayout)}
                """).json()["id"] as? Int)
            let berlinHall = try await app.createHall("Studio 1", as: admin)
            let movie = try await app.createMovie("Late Show", as: admin)
            // 00:30 in Tokyo on day D is still day D-1 in Berlin and in UTC.
            var tokyoCalendar = Calendar(identifier: .gregorian)
            tokyoCalendar.timeZone = TimeZone(identifier: "Asia/Tokyo")!
            let dayD = tokyoCalendar.date(byAdding: .day, value: 4, to: tokyoCalendar.startOfDay(for: Date()))!
            let lateInTokyo = tokyoCalendar.date(bySettingHour: 0, minute: 30, second: 0, of: dayD)!
            let parts = tokyoCalendar.dateComponents([.year, .month, .day], from: dayD)
            let date = String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
            let tokyoShow = try await app.createShowtime(movie: movie, hall: hall, startsAt: lateInTokyo, as: admin)
            let berlinShow = try await app.createShowtime(movie: movie, hall: berlinHall, startsAt: lateInTokyo, as: admin)

            let programme = try await app.request(.get, "/showtimes?date=\(date)")
            #expect(programme.itemIDs == [tokyoShow], "the same instant is day D in Tokyo only")
            let item = try #require((try programme.json()["items"] as? [[String: Any]])?.first)
            #expect((item["local_starts_at"] as? String)?.hasSuffix("T00:30:00+09:00") == true, "\(item["local_starts_at"] ?? "")")
            #expect((item["cinema"] as? [String: Any])?["city"] as? String == "Tokyo")

            let dayBefore = tokyoCalendar.dateComponents([.year, .month, .day], from: dayD.addingTimeInterval(-86_400))
            let previous = String(format: "%04d-%02d-%02d", dayBefore.year!, dayBefore.month!, dayBefore.day!)
            #expect(try await app.request(.get, "/showtimes?date=\(previous)").itemIDs == [berlinShow])
            #expect(try await app.request(.get, "/showtimes?date=\(date)&city=Berlin").itemIDs == [])
            #expect(try await app.request(.get, "/showtimes?date=\(date)&cinema=\(tokyo)").itemIDs == [tokyoShow])
        }
    }

    @Test func onlyAdminsOpenCinemasAndABadOneIsRefusedNamingTheField() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let user = try await app.makeUser()
            #expect(try await app.request(.post, "/admin/cinemas", as: user, json: #"{"name": "X", "city": "Y", "time_zone": "UTC"}"#).status
                == .forbidden)
            let badZone = try await app.request(.post, "/admin/cinemas", as: admin, json: #"{"name": "X", "city": "Y", "time_zone": "Mars/Olympus"}"#)
            #expect(badZone.status == .unprocessableContent)
            #expect(badZone.problemFields == ["time_zone"])
            let missing = try await app.request(.post, "/admin/cinemas", as: admin, json: #"{"name": "X"}"#)
            #expect(missing.problemFields == ["city", "time_zone"])
            _ = try await Self.openCinema(app, "Shibuya", city: "Tokyo", zone: "Asia/Tokyo", as: admin)
            let twice = try await app.request(.post, "/admin/cinemas", as: admin, json: #"{"name": "Shibuya", "city": "Tokyo", "time_zone": "Asia/Tokyo"}"#)
            #expect(twice.status == .conflict)
            #expect(twice.problemCode == "cinema_name_taken")
            #expect(try await app.request(.get, "/cinemas/999999").status == .notFound)
        }
    }

    /// A report across cinemas: each showtime's day of the week is its own cinema's; groups by
    /// cinema and by city.
    @Test func revenueAcrossCinemasTakesEachShowtimesLocalTimeAndGroupsByCinemaAndCity() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let tokyo = try await Self.openCinema(app, "Shibuya", city: "Tokyo", zone: "Asia/Tokyo", as: admin)
            let db = app.dependencies.postgres
            let berlinHall = try await ReportFixture.makeHall(db, "Berlin 1", seats: 4)
            let tokyoHall = try await ReportFixture.makeHall(db, "Tokyo 1", seats: 4)
            try await db.query("UPDATE halls SET cinema_id = \(tokyo) WHERE id = \(tokyoHall)")
            let movie = try await db.query("INSERT INTO movies (title, duration_minutes) VALUES ('Night', 90) RETURNING id")
                .first!.decode(Int.self, column: "id")
            // Thursday 15 January 2026, 16:00 UTC: 17:00 Thursday in Berlin, 01:00 Friday in Tokyo.
            _ = try await ReportFixture.makeShowtime(db, movie: movie, hall: berlinHall, startsAt: "2026-01-15T16:00:00Z", price: 1000)
            _ = try await ReportFixture.makeShowtime(db, movie: movie, hall: tokyoHall, startsAt: "2026-01-15T16:00:00Z", price: 1000)
            let week = try await app.request(.get, "/admin/reports/revenue?from=2026-01-15&to=2026-01-16&group_by=day_of_week", as: admin).json()
            let days = week["groups"] as? [[String: Any]] ?? []
            #expect(days.map { $0["label"] as? String } == ["Thursday", "Friday"])
            #expect(days.map { $0["showtimes"] as? Int } == [1, 1])
            let byCinema = try await app.request(.get, "/admin/reports/revenue?from=2026-01-15&to=2026-01-16&group_by=cinema", as: admin).json()
            #expect((byCinema["groups"] as? [[String: Any]])?.map { $0["label"] as? String } == ["BoxOffice", "Shibuya"])
            let byCity = try await app.request(.get, "/admin/reports/revenue?from=2026-01-15&to=2026-01-16&group_by=city", as: admin).json()
            #expect((byCity["groups"] as? [[String: Any]])?.map { $0["key"] as? String } == ["Berlin", "Tokyo"])
        }
    }

    /// At the door a ticket is valid on its showtime's day as its own cinema counts days.
    @Test func aTicketIsForItsCinemasDayAtTheDoor() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let tokyo = try await Self.openCinema(app, "Shibuya", city: "Tokyo", zone: "Asia/Tokyo", as: admin)
            let db = app.dependencies.postgres
            let hall = try await ReportFixture.makeHall(db, "Tokyo 1", seats: 4)
            try await db.query("UPDATE halls SET cinema_id = \(tokyo) WHERE id = \(hall)")
            let movie = try await db.query("INSERT INTO movies (title, duration_minutes) VALUES ('Night', 90) RETURNING id")
                .first!.decode(Int.self, column: "id")
            // 16:00 UTC on 15 January: 17:00 that day in Berlin, 01:00 on the 16th in Tokyo.
            let showtime = try await ReportFixture.makeShowtime(db, movie: movie, hall: hall, startsAt: "2026-01-15T16:00:00Z", price: 1000)
            let user = try await app.makeUser()
            let code = "door-\(UUID().uuidString.prefix(8))"
            try await db.query("""
                INSERT INTO bookings (user_id, showtime_id, hold_id, status, amount_minor, currency, ticket_code, confirmed_at)
                VALUES (\(user.id), \(showtime), \(UUID().uuidString), 'confirmed', 1000, 'EUR', \(code), now())
                """)
            let bookings = app.dependencies.bookings
            // Noon UTC on the 15th: the 15th in Berlin (the showtime's Berlin day) but not in Tokyo.
            await #expect(throws: BoxOfficeError.self) {
                _ = try await bookings.validateTicket(code: code, now: ISO8601DateFormatter().date(from: "2026-01-15T12:00:00Z")!)
            }
            do {
                _ = try await bookings.validateTicket(code: code, now: ISO8601DateFormatter().date(from: "2026-01-15T12:00:00Z")!)
            } catch let error as BoxOfficeError {
                #expect(error.code == "ticket_not_today")
            }
            // Half past midnight in Tokyo on the 16th: its day.
            let scan = try await bookings.validateTicket(code: code, now: ISO8601DateFormatter().date(from: "2026-01-15T15:30:00Z")!)
            #expect(scan.checkedInAt == ISO8601DateFormatter().date(from: "2026-01-15T15:30:00Z"))
        }
    }
}
