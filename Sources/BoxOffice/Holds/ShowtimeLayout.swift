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
    /// When its seats go on sale; nil: since it was scheduled.
    public var saleOpensAt: Date?
    public var waitingRoom: WaitingRoomMode = .off
    public var saleWindow: SaleWindow { SaleWindow(opensAt: saleOpensAt, startsAt: startsAt) }
    public var currency: String
    public let seats: [Seat]
    public let prices: [String: Int]
    let seatIndex: [Int: Int]
    /// Built once per layout: best-available requests come by the thousand during a rush.
    let bestAvailable: BestAvailable
    /// The showtime row's `updated_at` when read: a later one means prices or currency changed.
    let updatedAt: Date

    init(
        showtimeID: Int, startsAt: Date, isCancelled: Bool, currency: String, seats: [Seat], prices: [String: Int],
        bestX: Double, bestY: Double, updatedAt: Date
    ) {
        self.updatedAt = updatedAt
        self.showtimeID = showtimeID
        self.startsAt = startsAt
        self.isCancelled = isCancelled
        self.currency = currency
        self.seats = seats
        self.prices = prices
        self.seatIndex = Dictionary(uniqueKeysWithValues: seats.enumerated().map { ($1.id, $0) })
        self.bestAvailable = BestAvailable(seats: seats.map(\.place), bestX: bestX, bestY: bestY)
    }

    public func seat(_ id: Int) -> Seat? { seatIndex[id].map { seats[$0] } }
}

/// Loads layouts from PostgreSQL once per showtime. The showtime's start and status are
/// re-read after a few seconds so that a cancellation or a moved start is noticed; one request
/// re-reads them while the others that find the entry stale wait for its answer, so a rush on
/// one showtime costs one small query per few seconds, not one per request.
public final class ShowtimeLayoutCache: Sendable {
    private struct Entry {
        var layout: ShowtimeLayout?
        var checkedAt: ContinuousClock.Instant
        var reading: Task<ShowtimeLayout, any Error>?
        var readNumber = 0
    }

    private let postgres: PostgresPool
    private let entries = Mutex<[Int: Entry]>([:])
    /// Numbers reads: a read files its answer only while its entry still names it, so one that
    /// began before a `forget` (its answer may predate the change) files nothing.
    private let reads = Atomic<Int>(0)
    private let statusLifetime: Duration
    /// Entries beyond this many are dropped when no one asked for them for a while.
    private let capacity = 512

    public init(postgres: PostgresPool, statusLifetime: Duration = .seconds(5)) {
        self.postgres = postgres
        self.statusLifetime = statusLifetime
    }

    /// The layout, or `not_found`.
    public func layout(for showtimeID: Int) async throws -> ShowtimeLayout {
        let now = ContinuousClock.now
        enum Lookup {
            case cached(ShowtimeLayout)
            case reading(Task<ShowtimeLayout, any Error>)
        }
        let lookup = entries.withLock { entries -> Lookup in
            var entry = entries[showtimeID] ?? Entry(layout: nil, checkedAt: now, reading: nil)
            if let layout = entry.layout, now - entry.checkedAt < statusLifetime { return .cached(layout) }
            if let reading = entry.reading { return .reading(reading) }
            let known = entry.layout
            let number = reads.add(1, ordering: .relaxed).newValue
            let task = Task { try await self.read(showtimeID, known: known, number: number) }
            entry.reading = task
            entry.readNumber = number
            entries[showtimeID] = entry
            return .reading(task)
        }
        switch lookup {
        case .cached(let layout): return layout
        case .reading(let task): return try await task.value
        }
    }

    /// Forgets a showtime this instance changed, so that its next request reads it afresh (other
    /// instances notice within `statusLifetime`).
    public func forget(_ showtimeID: Int) {
        _ = entries.withLock { $0.removeValue(forKey: showtimeID) }
    }

    /// Reads the layout (or, when `known`, only what may change) and files the answer.
    private func read(_ showtimeID: Int, known: ShowtimeLayout?, number: Int) async throws -> ShowtimeLayout {
        do {
            let layout = if let known { try await refresh(known) } else { try await load(showtimeID) }
            let now = ContinuousClock.now
            entries.withLock { entries in
                guard entries[showtimeID]?.readNumber == number else { return }
                entries[showtimeID] = Entry(layout: layout, checkedAt: now, reading: nil)
                if entries.count > capacity {
                    entries = entries.filter { $0.value.reading != nil || now - $0.value.checkedAt < .seconds(60) }
                }
            }
            return layout
        } catch {
            entries.withLock { entries in
                guard entries[showtimeID]?.readNumber == number else { return }
                if let notFound = error as? BoxOfficeError, notFound.kind == .notFound {
                    entries[showtimeID] = nil
                } else {
                    entries[showtimeID]?.reading = nil
                }
            }
            throw error
        }
    }

    /// The known layout with its showtime's current start and status; read afresh when its
    /// prices or currency changed.
    private func refresh(_ known: ShowtimeLayout) async throws -> ShowtimeLayout {
        guard let showtime = try await postgres.query(
            "SELECT starts_at, status, updated_at, sale_opens_at, waiting_room FROM showtimes WHERE id = \(known.showtimeID)"
        ).first else { throw BoxOfficeError.notFound("The showtime") }
        guard try showtime.decode(Date.self, column: "updated_at") == known.updatedAt else {
            return try await load(known.showtimeID)
        }
        var layout = known
        layout.startsAt = try showtime.decode(Date.self, column: "starts_at")
        layout.isCancelled = try showtime.decode(ShowtimeStatus.self, column: "status") == .cancelled
        try Self.readSale(showtime, into: &layout)
        return layout
    }

    private static func readSale(_ row: PostgresRow, into layout: inout ShowtimeLayout) throws {
        layout.saleOpensAt = try row.decode(Date?.self, column: "sale_opens_at")
        layout.waitingRoom = WaitingRoomMode(rawValue: try row.decode(String.self, column: "waiting_room")) ?? .off
    }

    private func load(_ showtimeID: Int) async throws -> ShowtimeLayout {
        guard let showtime = try await postgres.query("""
            SELECT s.starts_at, s.status, s.currency, s.updated_at, s.sale_opens_at, s.waiting_room, h.best_view_x, h.best_view_y
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
        var layout = ShowtimeLayout(
            showtimeID: showtimeID,
            startsAt: try showtime.decode(Date.self, column: "starts_at"),
            isCancelled: try showtime.decode(ShowtimeStatus.self, column: "status") == .cancelled,
            currency: try showtime.decode(String.self, column: "currency"),
            seats: seats,
            prices: prices,
            bestX: bestX,
            bestY: bestY,
            updatedAt: try showtime.decode(Date.self, column: "updated_at")
        )
        try Self.readSale(showtime, into: &layout)
        return layout
    }
}
