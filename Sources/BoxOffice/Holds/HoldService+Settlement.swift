public import Foundation
import Logging

/// Seats whose rows a committed transaction changed, with each row's version after it: Redis
/// applies a change to a seat only if it is newer than the last it applied.
public struct ChangedSeats: Sendable, Equatable {
    public var ids: [Int] = []
    public var rowVersions: [Int] = []

    public init(ids: [Int] = [], rowVersions: [Int] = []) {
        self.ids = ids
        self.rowVersions = rowVersions
    }

    public var isEmpty: Bool { ids.isEmpty }

    public mutating func append(contentsOf other: ChangedSeats) {
        ids += other.ids
        rowVersions += other.rowVersions
    }
}

/// What checkout, payments and cancellations ask of the holds: nothing outside `Holds/`
/// touches the Redis store. The `apply…` methods run after PostgreSQL committed a change that
/// recorded `outboxID`; they never throw: what Redis did not learn, the outbox sweep repairs.
extension HoldService {
    /// Covers paying: one extension beyond the person's own, recording the booking; the hold's
    /// new expiry, or nil when it is gone.
    public func extendForPayment(_ hold: SeatHold, bookingID: UUID) async throws -> Date? {
        guard case .extended(let expiresAt, _) = try await store.extend(
            showtimeID: hold.showtimeID, holdID: hold.id, owner: hold.owner, seatIDs: hold.seats.map(\.id), by: settings.paymentWindow,
            maximumExtensions: 1_000, bookingID: bookingID
        ) else { return nil }
        try await store.markActive(showtimeID: hold.showtimeID, until: expiresAt)
        return expiresAt
    }

    /// True when a seat of `seatIDs` is held now by a hold other than `holdID`.
    public func seatsHeldByOthers(showtimeID: Int, holdID: String, seatIDs: [Int]) async throws -> Bool {
        try await store.holders(showtimeID: showtimeID, seatIDs: seatIDs).values.contains { $0 != holdID }
    }

    /// Releases a hold whoever owns it (a failed payment, a closed booking); best effort, it
    /// expires by itself anyway.
    public func releaseAny(showtimeID: Int, holdID: String) async {
        do {
            _ = try await store.release(showtimeID: showtimeID, holdID: holdID, owner: nil)
        } catch {
            logger.warning("could not release a hold; it expires by itself", metadata: ["hold": "\(holdID)", "error": "\(error)"])
        }
    }

    /// The number of holds of the showtime that have not expired.
    public func liveHoldCount(showtimeID: Int) async throws -> Int {
        try await store.liveHoldCount(showtimeID: showtimeID)
    }

    /// PostgreSQL said these seats are sold (a checkout or a payment found them so): Redis
    /// stops offering them at once. Best effort.
    public func repairSold(showtimeID: Int, seatIDs: [Int]) async {
        guard !seatIDs.isEmpty else { return }
        do {
            let added = try await store.repairSold(showtimeID: showtimeID, seatIDs: seatIDs)
            if added > 0 { logger.notice("the sold cache lacked sold seats", metadata: ["showtime": "\(showtimeID)", "seats": "\(added)"]) }
        } catch {
            logger.warning("could not repair the sold cache", metadata: ["error": "\(error)"])
        }
    }

    /// Drops the showtime's sold cache, so that the next reader rebuilds it from PostgreSQL
    /// (after a session died around a commit, say). Best effort.
    public func forgetSold(showtimeID: Int) async {
        do {
            try await store.forgetSold(showtimeID: showtimeID)
        } catch {
            logger.warning("could not drop a sold cache; the outbox sweep will", metadata: ["error": "\(error)"])
        }
    }

    /// After a sale committed: seats into the sold cache, the hold gone.
    public func applySale(showtimeID: Int, holdID: String, seats: ChangedSeats, outboxID: Int) async {
        do {
            try await store.confirm(showtimeID: showtimeID, holdID: holdID, seatIDs: seats.ids, rowVersions: seats.rowVersions)
            outbox.acknowledge(outboxID)
        } catch {
            logger.warning("sale committed but Redis was not told; the outbox sweep rebuilds it", metadata: ["error": "\(error)"])
        }
    }

    /// After a cancellation freed seats.
    public func applyFreed(showtimeID: Int, seats: ChangedSeats, outboxID: Int) async {
        do {
            try await store.unsell(showtimeID: showtimeID, seatIDs: seats.ids, rowVersions: seats.rowVersions)
            outbox.acknowledge(outboxID)
        } catch {
            logger.warning("seats freed but Redis was not told; the outbox sweep rebuilds it", metadata: ["error": "\(error)"])
        }
    }

    /// After a showtime's cancellation committed: every instance refuses holds at once, the
    /// seats its bookings held are freed, and its holds are released (their owners' live maps
    /// show the seats free). Acknowledged only once all of that reached Redis.
    public func applyCancelled(showtimeID: Int, freed: ChangedSeats = ChangedSeats(), outboxID: Int) async {
        do {
            try await closeInRedis(showtimeID)
            if !freed.isEmpty { try await store.unsell(showtimeID: showtimeID, seatIDs: freed.ids, rowVersions: freed.rowVersions) }
            outbox.acknowledge(outboxID)
        } catch {
            logger.warning("showtime cancelled but Redis was not told; the outbox sweep closes it", metadata: ["error": "\(error)"])
        }
    }

    /// The mark first, so that no hold is taken after the list of holds was read; then the
    /// releases, many in flight at once (the client pipelines them).
    private func closeInRedis(_ showtimeID: Int) async throws {
        try await store.close(showtimeID: showtimeID)
        let holdIDs = try await store.holdIDs(showtimeID: showtimeID)
        for start in stride(from: 0, to: holdIDs.count, by: 64) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for holdID in holdIDs[start..<min(start + 64, holdIDs.count)] {
                    group.addTask { _ = try await store.release(showtimeID: showtimeID, holdID: holdID, owner: nil) }
                }
                try await group.waitForAll()
            }
        }
    }

    /// Rebuilds in Redis each showtime whose outbox rows are older than `age`: a cancelled one
    /// is closed, and every one's sold cache is dropped so that its next reader loads it from
    /// PostgreSQL. The showtimes rebuilt.
    func resyncUnacknowledged(olderThan age: Duration) async throws -> [Int] {
        try await outbox.sweep(olderThan: age) { showtimeID, cancelled in
            if cancelled { try await closeInRedis(showtimeID) }
            try await store.forgetSold(showtimeID: showtimeID)
        }
    }
}
