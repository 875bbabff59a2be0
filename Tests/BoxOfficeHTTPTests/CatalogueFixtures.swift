import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PostgresClient
import Testing

/// Genres, movies, halls and showtimes made through the admin API, for the catalogue and
/// scheduling tests. Each helper expects success, so a broken step fails where it happens.
extension TestApp {
    /// Two rows of four seats with an aisle after seat 2; row A `standard`, row B `premium`.
    static let twoRowLayout = """
        {"rows": [
          {"label": "A", "seats": 4, "aisles_after": [2]},
          {"label": "B", "seats": 4, "aisles_after": [2], "default_category": "premium"}
        ]}
        """

    func createGenre(_ name: String, as admin: User) async throws -> Int {
        let response = try await request(.post, "/admin/genres", as: admin, json: #"{"name": "\#(name)"}"#)
        #expect(response.status == .created, "creating genre \(name): \(String(buffer: response.body))")
        return try #require(try response.json()["id"] as? Int)
    }

    func createMovie(
        _ title: String, as admin: User, durationMinutes: Int = 100, genreIDs: [Int] = []
    ) async throws -> Int {
        let response = try await request(.post, "/admin/movies", as: admin, json: """
            {"title": "\(title)", "description": "A film.", "duration_minutes": \(durationMinutes),
             "age_rating": "12", "release_year": 2024, "genre_ids": \(genreIDs)}
            """)
        #expect(response.status == .created, "creating movie \(title): \(String(buffer: response.body))")
        return try #require(try response.json()["id"] as? Int)
    }

    func createHall(
        _ name: String, as admin: User, cleaningMinutes: Int = 15, layout: String = TestApp.twoRowLayout
    ) async throws -> Int {
        let response = try await request(.post, "/admin/halls", as: admin, json: """
            {"name": "\(name)", "cleaning_minutes": \(cleaningMinutes), "layout": \(layout)}
            """)
        #expect(response.status == .created, "creating hall \(name): \(String(buffer: response.body))")
        return try #require(try response.json()["id"] as? Int)
    }

    /// POST /admin/showtimes with prices for both categories of `twoRowLayout`.
    func scheduleShowtime(
        movie: Int, hall: Int, startsAt: Date, as admin: User,
        prices: String = #"{"standard": 1200, "premium": 1800}"#
    ) async throws -> TestResponse {
        try await request(.post, "/admin/showtimes", as: admin, json: """
            {"movie_id": \(movie), "hall_id": \(hall), "starts_at": "\(SchedulingTime.format(startsAt))",
             "currency": "EUR", "prices": \(prices)}
            """)
    }

    /// Schedules and expects 201; the showtime's id.
    func createShowtime(movie: Int, hall: Int, startsAt: Date, as admin: User) async throws -> Int {
        let response = try await scheduleShowtime(movie: movie, hall: hall, startsAt: startsAt, as: admin)
        #expect(response.status == .created, "scheduling: \(String(buffer: response.body))")
        return try #require(try response.json()["id"] as? Int)
    }

    /// A booking straight in the database (checkout is not part of these features).
    func insertBooking(showtime: Int, by user: User, status: String = "confirmed") async throws {
        try await dependencies.postgres.query("""
            INSERT INTO bookings (user_id, showtime_id, hold_id, status, amount_minor, currency)
            VALUES (\(user.id), \(showtime), \(UUID().uuidString), \(status), 1200, 'EUR')
            """)
    }

    var cinemaCalendar: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = dependencies.settings.timeZone
        return calendar
    }

    /// `hour:minute` on the day `days` after today, in the cinema's zone.
    func cinemaTime(daysFromToday days: Int, hour: Int, minute: Int = 0) -> Date {
        let calendar = cinemaCalendar
        let today = calendar.startOfDay(for: Date())
        let day = calendar.date(byAdding: .day, value: days, to: today)!
        return calendar.date(bySettingHour: hour, minute: minute, second: 0, of: day)!
    }

    /// `YYYY-MM-DD` of the day `days` after today, in the cinema's zone.
    func cinemaDay(daysFromToday days: Int) -> String {
        let parts = cinemaCalendar.dateComponents([.year, .month, .day], from: cinemaTime(daysFromToday: days, hour: 12))
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }
}

extension TestResponse {
    /// The `field`s of a validation problem's `errors`.
    var problemFields: Set<String> {
        Set(((try? json())?["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String })
    }

    /// The `id`s of a list's `items`.
    var itemIDs: [Int] {
        ((try? json())?["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
    }
}
