public import Foundation
public import PostgresClient
import Synchronization

/// A showtime's seats with their categories and prices: what a seat map draws and a hold
/// prices. Seats do not change while a showtime exists, so layouts are cached per process.
public struct ShowtimeLayout: Sendable {
    public struct Seat: Sendable, Hashable {
        public var id: Int
        public var row: String
        public var number: Int
        public var category: String
        public var x: Double
        public var y: Double
        public var price: Int
        var place: SeatPlace
    }

    public var showtimeID: Int
    public var startsAt: Date
    public var isCancelled: Bool
    public var currency: String
    public var seats: [Seat]
    public var prices: [String: Int]
    let seatIndex: [Int: Int]
    let bestX: Double
    let bestY: Double

    public func seat(_ id: Int) -> Seat? { seatIndex[id].map { seats[$0] } }

    var bestAvailable: BestAvailable { BestAvailable(seats: seats.map(\.place), bestX: bestX, bestY: bestY) }
}

/// Loads layouts from PostgreSQL once per showtime; the showtime's status is re-read after a
/// few seconds so that a cancellation is noticed.
public final class ShowtimeLayoutCache: Sendable {
    private struct Entry {
        var layout: ShowtimeLayout
        var loadedAt: ContinuousClock.Instant
    }

    private let postgres: PostgresPool
    private let entries = Mutex<[Int: Entry]>([:])
    private let statusLifetime: Duration

    public init(postgres: PostgresPool, statusLifetime: Duration = .seconds(5)) {
        self.postgres = postgres
        self.statusLifetime = statusLifetime
    }

    /// The layout, or `not_found`.
    public func layout(for showtimeID: Int) async throws -> ShowtimeLayout {
        let now = ContinuousClock.now
        if let entry = entries.withLock({ $0[showtimeID] }), now - entry.loadedAt < statusLifetime {
            return entry.layout
        }
        let layout = try await load(showtimeID)
        entries.withLock { $0[showtimeID] = Entry(layout: layout, loadedAt: now) }
        return layout
    }

    private func load(_ showtimeID: Int) async throws -> ShowtimeLayout {
        guard let showtime = try await postgres.query("""
            SELECT s.starts_at, s.status, s.currency, h.best_view_x, h.best_view_y
            FROM showtimes s JOIN halls h ON h.id = s.hall_id WHERE s.id = \(showtimeID)
            """).first else { throw BoxOfficeError.notFound("The showtime") }
        var prices: [String: Int] = [:]
        for row in try await postgres.query("SELECT category, price_minor FROM showtime_prices WHERE showtime_id = \(showtimeID)") {
            prices[try row.decode(String.self, column: "category")] = try row.decode(Int.self, column: "price_minor")
        }
        var seats: [ShowtimeLayout.Seat] = []
        for row in try await postgres.query("""
            SELECT se.id, se.row_label, se.row_index, se.number, se.position, se.category, se.x, se.y
            FROM showtime_seats ss JOIN seats se ON se.id = ss.seat_id
            WHERE ss.showtime_id = \(showtimeID)
            ORDER BY se.row_index, se.position
            """) {
            let id = try row.decode(Int.self, column: "id")
            let category = try row.decode(String.self, column: "category")
            let x = try row.decode(Double.self, column: "x")
            let y = try row.decode(Double.self, column: "y")
            let place = SeatPlace(
                id: id, rowIndex: try row.decode(Int.self, column: "row_index"),
                position: try row.decode(Int.self, column: "position"), category: category, x: x, y: y
            )
            seats.append(.init(
                id: id, row: try row.decode(String.self, column: "row_label"), number: try row.decode(Int.self, column: "number"),
                category: category, x: x, y: y, price: prices[category] ?? 0, place: place
            ))
        }
        let xs = seats.map(\.x)
        let ys = seats.map(\.y)
        let bestX = try showtime.decode(Double?.self, column: "best_view_x") ?? ((xs.min() ?? 0) + (xs.max() ?? 0)) / 2
        let bestY = try showtime.decode(Double?.self, column: "best_view_y") ?? (ys.min() ?? 0) + ((ys.max() ?? 0) - (ys.min() ?? 0)) * 2 / 3
        return ShowtimeLayout(
            showtimeID: showtimeID,
            startsAt: try showtime.decode(Date.self, column: "starts_at"),
            isCancelled: try showtime.decode(String.self, column: "status") == "cancelled",
            currency: try showtime.decode(String.self, column: "currency"),
            seats: seats,
            prices: prices,
            seatIndex: Dictionary(uniqueKeysWithValues: seats.enumerated().map { ($1.id, $0) }),
            bestX: bestX,
            bestY: bestY
        )
    }
}
