import Foundation
public import Logging
public import PostgresClient
public import ServiceLifecycle
import Synchronization

/// Changes of availability that PostgreSQL committed and Redis must still learn. The
/// transaction that sells, frees or cancels writes a row (`availability_outbox`); after the
/// commit the instance tells Redis and acknowledges the row. Acknowledgements are deleted in
/// batches, so the hot path pays one small INSERT inside its own statement and no round trip.
/// A row left behind (the process died between commit and Redis, or Redis was down) is found
/// by any instance's sweep, which rebuilds that showtime's Redis state from PostgreSQL.
///
/// Why an outbox and not a sold counter checked on read: a counter on the showtime row would
/// make every sale of a showtime update one row (all callbacks of a premiere queueing on its
/// lock), and every seat-map read would have to ask PostgreSQL for it.
public final class AvailabilityOutbox: Sendable {
    let postgres: PostgresPool
    private let acknowledged = Mutex<[Int]>([])

    let logger: Logger

    init(postgres: PostgresPool, logger: Logger) {
        self.postgres = postgres
        self.logger = logger
    }

    /// Records, inside `tx`, that `showtimeID`'s Redis state must follow this transaction.
    public func record(showtimeID: Int, in tx: PostgresConnection) async throws -> Int {
        try await tx.query(Self.insert(showtimeID: showtimeID)).first!.decode(Int.self, column: "id")
    }

    /// The statement of `record`, for transactions that write it within a larger statement.
    static func insert(showtimeID: Int) -> PostgresQuery {
        "INSERT INTO availability_outbox (showtime_id) VALUES (\(showtimeID)) RETURNING id"
    }

    /// Redis learned the change: the row goes with the next flush.
    func acknowledge(_ id: Int) {
        acknowledged.withLock { $0.append(id) }
    }

    /// Deletes the acknowledged rows; the number deleted. A failed delete keeps them for the next flush.
    @discardableResult
    public func flush() async throws -> Int {
        let ids = acknowledged.withLock { ids -> [Int] in
            defer { ids.removeAll(keepingCapacity: true) }
            return ids
        }
        guard !ids.isEmpty else { return 0 }
        do {
            try await postgres.query("DELETE FROM availability_outbox WHERE id = ANY(\(ids))")
        } catch {
            acknowledged.withLock { $0.append(contentsOf: ids) }
            throw error
        }
        return ids.count
    }

    /// Claims rows older than `age` (none that another sweeper holds), lets `resync` rebuild
    /// each of their showtimes in Redis (told whether it is cancelled), and deletes them; if a
    /// resync fails, the rows stay for the next pass. The showtimes resynced.
    func sweep(
        olderThan age: Duration, limit: Int = 500, resync: @Sendable (_ showtimeID: Int, _ cancelled: Bool) async throws -> Void
    ) async throws -> [Int] {
        try await postgres.withTransaction { tx in
            let rows = try await tx.query("""
                SELECT o.id, o.showtime_id, s.status FROM availability_outbox o LEFT JOIN showtimes s ON s.id = o.showtime_id
                WHERE o.created_at < now() - make_interval(secs => \(age.timeInterval))
                ORDER BY o.id LIMIT \(limit) FOR UPDATE OF o SKIP LOCKED
                """)
            var byShowtime: [Int: (ids: [Int], cancelled: Bool)] = [:]
            for row in rows {
                let showtimeID = try row.decode(Int.self, column: "showtime_id")
                byShowtime[showtimeID, default: ([], false)].ids.append(try row.decode(Int.self, column: "id"))
                byShowtime[showtimeID]?.cancelled = try row.decode(ShowtimeStatus?.self, column: "status") == .cancelled
            }
            var done: [Int] = []
            var showtimes: [Int] = []
            for (showtimeID, found) in byShowtime.sorted(by: { $0.key < $1.key }) {
                do {
                    try await resync(showtimeID, found.cancelled)
                    done += found.ids
                    showtimes.append(showtimeID)
                } catch {
                    // Its rows stay for the next pass; the others' repairs go ahead.
                    logger.warning("could not rebuild a showtime in Redis", metadata: ["showtime": "\(showtimeID)", "error": "\(error)"])
                }
            }
            if !done.isEmpty { try await tx.query("DELETE FROM availability_outbox WHERE id = ANY(\(done))") }
            return showtimes
        }
    }
}

/// Every instance runs one: deletes acknowledged outbox rows in batches, and rebuilds in Redis
/// the showtimes whose rows nobody acknowledged. Its first pass takes every row, so a process
/// that replaces one killed mid-sale repairs at once; later passes leave young rows to the
/// instances that are telling Redis about them.
public struct AvailabilityOutboxWorker: Service {
    let holds: HoldService
    let interval: Duration
    let staleAfter: Duration
    let logger: Logger

    public init(holds: HoldService, interval: Duration = .milliseconds(250), staleAfter: Duration = .seconds(5), logger: Logger) {
        self.holds = holds
        self.interval = interval
        self.staleAfter = staleAfter
        self.logger = logger
    }

    public func run() async throws {
        var age = Duration.zero
        await periodically(every: interval, logger: logger, failure: "availability outbox pass failed") {
            try await holds.outbox.flush()
            let resynced = try await holds.resyncUnacknowledged(olderThan: age)
            if !resynced.isEmpty {
                logger.notice("rebuilt Redis state that missed committed changes", metadata: ["showtimes": "\(resynced)"])
            }
            age = staleAfter
        }
        _ = try? await holds.outbox.flush()
    }
}
