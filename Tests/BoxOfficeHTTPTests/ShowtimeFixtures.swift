import BoxOffice
import BoxOfficeHTTP
import Foundation
import PostgresClient

/// A showtime made straight in the database: `rows` rows (A, B, …) of `seatsPerRow` seats,
/// the first row premium, the others standard; prices 1500 and 1000 EUR cents.
struct ShowtimeFixture: Sendable {
    var id: Int
    var hallID: Int
    var movieID: Int
    /// Seat ids by row, left to right.
    var rows: [[Int]]
    var allSeats: [Int] { rows.flatMap { $0 } }
}

extension TestApp {
    func makeShowtime(rows: Int = 3, seatsPerRow: Int = 6, startsIn: TimeInterval = 86_400) async throws -> ShowtimeFixture {
        let postgres = dependencies.postgres
        let name = "Hall \(UUID().uuidString.prefix(8))"
        let hallID = try await postgres.query("INSERT INTO halls (name) VALUES (\(name)) RETURNING id")
            .first!.decode(Int.self, column: "id")
        let movieID = try await postgres.query("INSERT INTO movies (title, duration_minutes) VALUES ('Premiere', 120) RETURNING id")
            .first!.decode(Int.self, column: "id")
        var seatRows: [[Int]] = []
        for row in 0..<rows {
            let label = String(UnicodeScalar(UInt8(65 + row)))
            let category = row == 0 ? "premium" : "standard"
            var ids: [Int] = []
            for number in 1...seatsPerRow {
                ids.append(try await postgres.query("""
                    INSERT INTO seats (hall_id, row_label, row_index, number, position, category, x, y)
                    VALUES (\(hallID), \(label), \(row), \(number), \(number), \(category), \(Double(number)), \(Double(row)))
                    RETURNING id
                    """).first!.decode(Int.self, column: "id"))
            }
            seatRows.append(ids)
        }
        let startsAt = Date().addingTimeInterval(startsIn)
        let showtimeID = try await postgres.query("""
            INSERT INTO showtimes (movie_id, hall_id, starts_at, ends_at, currency)
            VALUES (\(movieID), \(hallID), \(startsAt), \(startsAt.addingTimeInterval(8100)), 'EUR') RETURNING id
            """).first!.decode(Int.self, column: "id")
        try await postgres.query("""
            INSERT INTO showtime_prices (showtime_id, category, price_minor)
            VALUES (\(showtimeID), 'premium', 1500), (\(showtimeID), 'standard', 1000)
            """)
        try await postgres.query("""
            INSERT INTO showtime_seats (showtime_id, seat_id) SELECT \(showtimeID), id FROM seats WHERE hall_id = \(hallID)
            """)
        return ShowtimeFixture(id: showtimeID, hallID: hallID, movieID: movieID, rows: seatRows)
    }
}
