import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PostgresClient
import Testing

/// Halls with seat layouts, and showtimes, over HTTP.
@Suite(.serialized) struct SchedulingTests {
    // MARK: - Halls

    @Test func aHallIsCreatedFromRowsWithAislesAndCategoriesAndDrawnPublicly() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let created = try await app.request(.post, "/admin/halls", as: admin, json: """
                {"name": "Studio 1", "cleaning_minutes": 20, "layout": \(TestApp.twoRowLayout)}
                """)
            #expect(created.status == .created)
            let id = try #require(try created.json()["id"] as? Int)

            let response = try await app.request(.get, "/halls/\(id)")
            #expect(response.status == .ok)
            let hall = try response.json()
            #expect(hall["name"] as? String == "Studio 1")
            #expect(hall["cleaning_minutes"] as? Int == 20)
            #expect(hall["seat_count"] as? Int == 8)
            #expect(hall["categories"] as? [String] == ["premium", "standard"])
            let seats = hall["seats"] as? [[String: Any]] ?? []
            #expect(seats.count == 8)
            let rowA = seats.filter { $0["row"] as? String == "A" }
            #expect(rowA.compactMap { $0["number"] as? Int } == [1, 2, 3, 4])
            // The aisle after seat 2 is an empty place: seats 2 and 3 are not adjacent.
            #expect(rowA.compactMap { $0["position"] as? Int } == [0, 1, 3, 4])
            #expect(rowA.compactMap { $0["x"] as? Double } == [0, 1, 3, 4])
            #expect(Set(rowA.compactMap { $0["category"] as? String }) == ["standard"])
            let rowB = seats.filter { $0["row"] as? String == "B" }
            #expect(Set(rowB.compactMap { $0["category"] as? String }) == ["premium"])
            #expect(Set(rowB.compactMap { $0["y"] as? Double }) == [1])
            #expect(hall["best_view"] is [String: Any])

            let list = try await app.request(.get, "/admin/halls", as: admin)
            #expect(list.itemIDs == [id])
        }
    }

    @Test func aHallWithExplicitSeatsKeepsTheirCoordinates() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let id = try await app.createHall("Curved", as: admin, layout: """
                {"seats": [
                  {"row": "A", "number": 1, "x": 0.5, "y": 0.25, "category": "wheelchair"},
                  {"row": "A", "number": 2, "x": 1.5, "y": 0.0}
                ]}
                """)
            let seats = try await app.request(.get, "/halls/\(id)").json()["seats"] as? [[String: Any]] ?? []
            #expect(seats.compactMap { $0["x"] as? Double } == [0.5, 1.5])
            #expect(seats.compactMap { $0["y"] as? Double } == [0.25, 0])
            #expect(seats.compactMap { $0["category"] as? String } == ["wheelchair", "standard"])
        }
    }

    @Test func aBadLayoutIs422NamingEveryProblem() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let response = try await app.request(.post, "/admin/halls", as: admin, json: """
                {"name": "", "cleaning_minutes": -5, "layout": {"rows": [
                  {"label": "A", "seats": 4, "aisles_after": [4]},
                  {"label": "A", "seats": 2, "default_category": "VIP"}
                ]}}
                """)
            #expect(response.status == .unprocessableContent)
            #expect(response.problemFields == [
                "name", "cleaning_minutes", "layout.rows[0].aisles_after[0]",
                "layout.rows[1].label", "layout.rows[1].default_category",
            ])
            let missing = try await app.request(.post, "/admin/halls", as: admin, json: #"{"name": "Empty", "cleaning_minutes": 10}"#)
            #expect(missing.status == .unprocessableContent)
            #expect(missing.problemFields == ["layout"])
        }
    }

    @Test func aNULCharacterInAHallNameOrRowLabelIs422() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let response = try await app.request(.post, "/admin/halls", as: admin, json: #"""
                {"name": "Studio\u00001", "cleaning_minutes": 10, "layout": {"rows": [{"label": "A\u0000", "seats": 2}]}}
                """#)
            #expect(response.status == .unprocessableContent)
            #expect(response.problemFields == ["name", "layout.rows[0].label"])
        }
    }

    @Test func aHallNameIsUnique() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            _ = try await app.createHall("Studio 1", as: admin)
            let again = try await app.request(.post, "/admin/halls", as: admin, json: """
                {"name": "Studio 1", "cleaning_minutes": 10, "layout": {"grid": {"rows": 1, "seats_per_row": 2}}}
                """)
            #expect(again.status == .conflict)
            #expect(again.problemCode == "hall_exists")
        }
    }

    @Test func theLayoutCannotChangeWhileUpcomingShowtimesHaveBookings() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let customer = try await app.makeUser()
            let hall = try await app.createHall("Studio 1", as: admin)
            let movie = try await app.createMovie("Booked", as: admin)
            let showtime = try await app.createShowtime(movie: movie, hall: hall, startsAt: app.cinemaTime(daysFromToday: 2, hour: 20), as: admin)
            try await app.insertBooking(showtime: showtime, by: customer)

            let newLayout = #"{"grid": {"rows": 3, "seats_per_row": 5}}"#
            let refused = try await app.request(.put, "/admin/halls/\(hall)", as: admin, json: """
                {"name": "Studio 1", "cleaning_minutes": 15, "layout": \(newLayout)}
                """)
            #expect(refused.status == .conflict)
            #expect(refused.problemCode == "hall_has_bookings")
            #expect(try refused.json()["showtime_ids"] as? [Int] == [showtime])
            #expect(try await app.request(.get, "/halls/\(hall)").json()["seat_count"] as? Int == 8)

            // Renaming without touching the layout is fine.
            let renamed = try await app.request(.put, "/admin/halls/\(hall)", as: admin, json: """
                {"name": "Studio One", "cleaning_minutes": 15}
                """)
            #expect(renamed.status == .ok)
            #expect(try renamed.json()["name"] as? String == "Studio One")
            #expect(try renamed.json()["seat_count"] as? Int == 8)
        }
    }

    @Test func theLayoutOfAHallWithoutShowtimesIsReplaced() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let hall = try await app.createHall("Studio 1", as: admin)
            let response = try await app.request(.put, "/admin/halls/\(hall)", as: admin, json: """
                {"name": "Studio 1", "cleaning_minutes": 15, "layout": {"grid": {"rows": 3, "seats_per_row": 5}}}
                """)
            #expect(response.status == .ok)
            #expect(try response.json()["seat_count"] as? Int == 15)
            #expect(try response.json()["categories"] as? [String] == ["standard"])
        }
    }

    // MARK: - Scheduling

    @Test func schedulingAShowtimeCreatesItsSeatRowsAndEndsAfterTheFilmAndCleaning() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let hall = try await app.createHall("Studio 1", as: admin, cleaningMinutes: 20)
            let movie = try await app.createMovie("Long", as: admin, durationMinutes: 130)
            let start = app.cinemaTime(daysFromToday: 2, hour: 19, minute: 30)

            let response = try await app.scheduleShowtime(movie: movie, hall: hall, startsAt: start, as: admin)
            #expect(response.status == .created)
            let showtime = try response.json()
            let id = try #require(showtime["id"] as? Int)
            #expect(showtime["starts_at"] as? String == SchedulingTime.format(start))
            #expect(showtime["ends_at"] as? String == SchedulingTime.format(start.addingTimeInterval(150 * 60)))
            #expect(showtime["status"] as? String == "scheduled")
            #expect(showtime["currency"] as? String == "EUR")
            #expect(showtime["prices"] as? [String: Int] == ["standard": 1200, "premium": 1800])
            #expect(showtime["capacity"] as? Int == 8)

            let rows = try await app.dependencies.postgres.query("""
                SELECT count(*) AS n, count(*) FILTER (WHERE status = 'available' AND version = 0 AND booking_id IS NULL) AS fresh,
                       count(DISTINCT ss.seat_id) FILTER (WHERE se.hall_id = \(hall)) AS of_hall
                FROM showtime_seats ss JOIN seats se ON se.id = ss.seat_id WHERE ss.showtime_id = \(id)
                """).first!
            #expect(try rows.decode(Int.self, column: "n") == 8)
            #expect(try rows.decode(Int.self, column: "fresh") == 8)
            #expect(try rows.decode(Int.self, column: "of_hall") == 8)

            let read = try await app.request(.get, "/showtimes/\(id)")
            #expect(read.status == .ok)
            #expect(try read.json()["capacity"] as? Int == 8)
            #expect((try read.json()["movie"] as? [String: Any])?["title"] as? String == "Long")
        }
    }

    @Test func anOverlappingShowtimeIs409NamingTheOneInTheWay() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let hall = try await app.createHall("Studio 1", as: admin, cleaningMinutes: 15)
            let movie = try await app.createMovie("Ninety", as: admin, durationMinutes: 90)
            let start = app.cinemaTime(daysFromToday: 2, hour: 18)
            let first = try await app.createShowtime(movie: movie, hall: hall, startsAt: start, as: admin)

            // 18:00 + 90 + 15 cleaning = 19:45: 19:40 is inside the cleaning time.
            let clash = try await app.scheduleShowtime(movie: movie, hall: hall, startsAt: start.addingTimeInterval(100 * 60), as: admin)
            #expect(clash.status == .conflict)
            #expect(clash.problemCode == "showtime_overlap")
            let body = try clash.json()
            #expect(body["conflicting_showtime_id"] as? Int == first)
            #expect((body["detail"] as? String)?.contains("showtime \(first)") == true)

            // Back to back is fine, and so is the same time in another hall.
            _ = try await app.createShowtime(movie: movie, hall: hall, startsAt: start.addingTimeInterval(105 * 60), as: admin)
            let other = try await app.createHall("Studio 2", as: admin)
            _ = try await app.createShowtime(movie: movie, hall: other, startsAt: start, as: admin)
            let count = try await app.dependencies.postgres.query("SELECT count(*) AS n FROM showtimes")
                .first!.decode(Int.self, column: "n")
            #expect(count == 3)
        }
    }

    @Test func concurrentOverlappingShowtimesLeaveExactlyOneScheduled() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let hall = try await app.createHall("Studio 1", as: admin)
            let movie = try await app.createMovie("Premiere", as: admin)
            let base = app.cinemaTime(daysFromToday: 2, hour: 20)
            let results = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for index in 0..<6 {
                    group.addTask {
                        try await app.scheduleShowtime(movie: movie, hall: hall, startsAt: base.addingTimeInterval(Double(index) * 300), as: admin)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let winners = results.filter { $0.status == .created }
            #expect(winners.count == 1)
            let losers = results.filter { $0.status != .created }
            #expect(losers.allSatisfy { $0.status == .conflict && $0.problemCode == "showtime_overlap" })
            let winner = try #require(try winners.first?.json()["id"] as? Int)
            for loser in losers {
                #expect(try loser.json()["conflicting_showtime_id"] as? Int == winner)
            }
            let stored = try await app.dependencies.postgres.query("SELECT count(*) AS n FROM showtimes")
                .first!.decode(Int.self, column: "n")
            #expect(stored == 1)
            let seatRows = try await app.dependencies.postgres.query("SELECT count(*) AS n FROM showtime_seats")
                .first!.decode(Int.self, column: "n")
            #expect(seatRows == 8)
        }
    }

    @Test func aStartMoreThanTwoYearsAheadIsRefused() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let hall = try await app.createHall("Studio 9", as: admin)
            let movie = try await app.createMovie("Far Future", as: admin)
            for start in ["+99999-01-01T19:00:00Z", "9999-01-01T19:00:00Z", SchedulingTime.format(Date().addingTimeInterval(3 * 366 * 86_400))] {
                let response = try await app.request(.post, "/admin/showtimes", as: admin, json: """
                    {"movie_id": \(movie), "hall_id": \(hall), "starts_at": "\(start)", "prices": {"standard": 1200, "premium": 1800}}
                    """)
                #expect(response.status == .unprocessableContent, "\(start)")
                #expect(response.problemFields == ["starts_at"], "\(start)")
            }
            let soon = try await app.scheduleShowtime(movie: movie, hall: hall, startsAt: app.cinemaTime(daysFromToday: 2, hour: 19), as: admin)
            #expect(soon.status == .created)
        }
    }

    @Test func aStartInThePastIsRefused() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let hall = try await app.createHall("Studio 1", as: admin)
            let movie = try await app.createMovie("Yesterday", as: admin)
            let response = try await app.scheduleShowtime(movie: movie, hall: hall, startsAt: Date().addingTimeInterval(-3600), as: admin)
            #expect(response.status == .unprocessableContent)
            #expect(response.problemFields == ["starts_at"])
            let stored = try await app.dependencies.postgres.query("SELECT count(*) AS n FROM showtimes")
                .first!.decode(Int.self, column: "n")
            #expect(stored == 0)
        }
    }

    @Test func badShowtimeInputIs422NamingEachField() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let hall = try await app.createHall("Studio 1", as: admin)
            let movie = try await app.createMovie("Input", as: admin)
            let badTime = try await app.request(.post, "/admin/showtimes", as: admin, json: """
                {"movie_id": \(movie), "hall_id": \(hall), "starts_at": "tomorrow evening", "currency": "eur",
                 "prices": {"standard": -1}}
                """)
            #expect(badTime.status == .unprocessableContent)
            #expect(badTime.problemFields == ["starts_at", "currency", "prices.standard"])

            let start = app.cinemaTime(daysFromToday: 2, hour: 20)
            let missingPrice = try await app.scheduleShowtime(movie: movie, hall: hall, startsAt: start, as: admin, prices: #"{"standard": 1000}"#)
            #expect(missingPrice.status == .unprocessableContent)
            #expect(missingPrice.problemFields == ["prices"])
            #expect((try missingPrice.json()["detail"] as? String)?.contains("premium") == true)

            let unknown = try await app.scheduleShowtime(movie: 9999, hall: 9998, startsAt: start, as: admin)
            #expect(unknown.status == .unprocessableContent)
            #expect(unknown.problemFields == ["movie_id", "hall_id"])
        }
    }

    @Test func showtimesOfADayAreTakenInTheCinemasTimeZone() async throws {
        try await TestApp.run { app in
            #expect(app.dependencies.settings.timeZone.identifier == "Europe/Berlin")
            let admin = try await app.makeUser(role: .admin)
            let hall = try await app.createHall("Studio 1", as: admin)
            let movie = try await app.createMovie("Midnight", as: admin)
            // 00:30 in Berlin is still the previous day in UTC.
            let lateNight = try await app.createShowtime(movie: movie, hall: hall, startsAt: app.cinemaTime(daysFromToday: 4, hour: 0, minute: 30), as: admin)
            let evening = try await app.createShowtime(movie: movie, hall: hall, startsAt: app.cinemaTime(daysFromToday: 3, hour: 20), as: admin)

            #expect(try await app.request(.get, "/showtimes?date=\(app.cinemaDay(daysFromToday: 3))").itemIDs == [evening])
            let dayFour = try await app.request(.get, "/showtimes?date=\(app.cinemaDay(daysFromToday: 4))")
            #expect(dayFour.status == .ok)
            #expect(dayFour.itemIDs == [lateNight])
            #expect(try dayFour.json()["total"] as? Int == 1)
        }
    }

    @Test func showtimesAreFilteredByMovieHallAndGenre() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let western = try await app.createGenre("Western", as: admin)
            let one = try await app.createHall("Studio 1", as: admin)
            let two = try await app.createHall("Studio 2", as: admin)
            let rio = try await app.createMovie("Rio Bravo", as: admin, genreIDs: [western])
            let up = try await app.createMovie("Up", as: admin)
            let day = 3
            let a = try await app.createShowtime(movie: rio, hall: one, startsAt: app.cinemaTime(daysFromToday: day, hour: 14), as: admin)
            let b = try await app.createShowtime(movie: up, hall: two, startsAt: app.cinemaTime(daysFromToday: day, hour: 15), as: admin)
            let c = try await app.createShowtime(movie: up, hall: one, startsAt: app.cinemaTime(daysFromToday: day, hour: 18), as: admin)
            let date = app.cinemaDay(daysFromToday: day)

            #expect(try await app.request(.get, "/showtimes?date=\(date)").itemIDs == [a, b, c])
            #expect(try await app.request(.get, "/showtimes?date=\(date)&movie_id=\(up)").itemIDs == [b, c])
            #expect(try await app.request(.get, "/showtimes?date=\(date)&hall_id=\(one)").itemIDs == [a, c])
            #expect(try await app.request(.get, "/showtimes?date=\(date)&genre=\(western)").itemIDs == [a])
            #expect(try await app.request(.get, "/showtimes?date=\(date)&limit=1&offset=1").itemIDs == [b])

            let bad = try await app.request(.get, "/showtimes?date=03/05/2026&hall_id=x")
            #expect(bad.status == .unprocessableContent)
            #expect(bad.problemFields == ["date", "hall_id"])
            // `movie` is checked like `movie_id` even when both are given, and they must agree.
            #expect(try await app.request(.get, "/showtimes?date=\(date)&movie=\(up)&movie_id=\(up)").itemIDs == [b, c])
            let both = try await app.request(.get, "/showtimes?date=\(date)&movie=-4&movie_id=\(up)")
            #expect(both.status == .unprocessableContent)
            #expect(both.problemFields == ["movie"])
            #expect(try await app.request(.get, "/showtimes?date=\(date)&movie=\(rio)&movie_id=\(up)").problemFields == ["movie"])
        }
    }

    @Test func aCancelledShowtimeLeavesTheProgrammeAndFreesItsSlot() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let hall = try await app.createHall("Studio 1", as: admin)
            let movie = try await app.createMovie("Cancelled", as: admin)
            let start = app.cinemaTime(daysFromToday: 2, hour: 20)
            let id = try await app.createShowtime(movie: movie, hall: hall, startsAt: start, as: admin)

            let cancelled = try await app.request(.post, "/admin/showtimes/\(id)/cancel", as: admin)
            #expect(cancelled.status == .ok)
            #expect(try cancelled.json()["status"] as? String == "cancelled")
            #expect(try cancelled.json()["cancelled_at"] is String)

            #expect(try await app.request(.get, "/showtimes?date=\(app.cinemaDay(daysFromToday: 2))").itemIDs.isEmpty)
            #expect(try await app.request(.get, "/showtimes/\(id)").json()["status"] as? String == "cancelled")
            let again = try await app.request(.post, "/admin/showtimes/\(id)/cancel", as: admin)
            #expect(again.status == .conflict)
            #expect(again.problemCode == "already_cancelled")
            // The hall is free again at that time.
            _ = try await app.createShowtime(movie: movie, hall: hall, startsAt: start, as: admin)
            let moved = try await app.request(.put, "/admin/showtimes/\(id)", as: admin, json: #"{"prices": {"standard": 1, "premium": 2}}"#)
            #expect(moved.problemCode == "showtime_cancelled")
        }
    }

    @Test func movingAShowtimeRecomputesItsEndAndRefusesAnOverlap() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let hall = try await app.createHall("Studio 1", as: admin, cleaningMinutes: 10)
            let movie = try await app.createMovie("Mover", as: admin, durationMinutes: 80)
            let first = try await app.createShowtime(movie: movie, hall: hall, startsAt: app.cinemaTime(daysFromToday: 2, hour: 14), as: admin)
            let second = try await app.createShowtime(movie: movie, hall: hall, startsAt: app.cinemaTime(daysFromToday: 2, hour: 20), as: admin)

            let newStart = app.cinemaTime(daysFromToday: 2, hour: 16)
            let moved = try await app.request(.put, "/admin/showtimes/\(first)", as: admin, json: """
                {"starts_at": "\(SchedulingTime.format(newStart))", "prices": {"standard": 900, "premium": 1500}}
                """)
            #expect(moved.status == .ok)
            let body = try moved.json()
            #expect(body["ends_at"] as? String == SchedulingTime.format(newStart.addingTimeInterval(90 * 60)))
            #expect(body["prices"] as? [String: Int] == ["standard": 900, "premium": 1500])

            let clash = try await app.request(.put, "/admin/showtimes/\(first)", as: admin, json: """
                {"starts_at": "\(SchedulingTime.format(app.cinemaTime(daysFromToday: 2, hour: 19)))"}
                """)
            #expect(clash.status == .conflict)
            #expect(try clash.json()["conflicting_showtime_id"] as? Int == second)

            let past = try await app.request(.put, "/admin/showtimes/\(first)", as: admin, json: """
                {"starts_at": "\(SchedulingTime.format(Date().addingTimeInterval(-60)))"}
                """)
            #expect(past.status == .unprocessableContent)
            #expect(past.problemFields == ["starts_at"])
        }
    }

    @Test func anUnknownShowtimeOrHallIs404() async throws {
        try await TestApp.run { app in
            let showtime = try await app.request(.get, "/showtimes/987654")
            #expect(showtime.problemCode == "not_found")
            #expect(try await app.request(.get, "/halls/987654").status == .notFound)
            #expect(try await app.request(.get, "/halls/not-a-number").status == .notFound)
        }
    }
}
