public import Logging
public import PostgresClient
public import ServiceLifecycle

/// Closes pending bookings whose payment callback never came (`expired`) and releases their
/// holds. A payment that still arrives later follows the late-payment rule. Every instance
/// runs one; the UPDATE makes concurrent closers harmless.
public struct PendingBookingCloser: Service {
    let postgres: PostgresPool
    let holds: HoldService
    let timeout: Duration
    let interval: Duration
    let logger: Logger

    public init(postgres: PostgresPool, holds: HoldService, timeout: Duration, interval: Duration = .seconds(30), logger: Logger) {
        self.postgres = postgres
        self.holds = holds
        self.timeout = timeout
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await periodically(every: interval, logger: logger, failure: "closing unpaid bookings failed") {
            let closed = try await closeStale()
            if closed > 0 { logger.info("closed unpaid bookings", metadata: ["count": "\(closed)"]) }
        }
    }

    /// One pass; the number of bookings closed.
    @discardableResult
    public func closeStale() async throws -> Int {
        // Bookings a callback or a cancel holds locked are skipped (they are being settled); the
        // rest are locked in id order, as a showtime's cancel locks them, so neither deadlocks.
        let closed = try await postgres.query("""
            UPDATE bookings SET status = 'expired', updated_at = now()
            WHERE id IN (
                SELECT id FROM bookings
                WHERE status = 'pending' AND created_at < now() - make_interval(secs => \(timeout.timeInterval))
                ORDER BY id FOR NO KEY UPDATE SKIP LOCKED
            )
            RETURNING showtime_id, hold_id
            """)
        for row in closed {
            await holds.releaseAny(showtimeID: try row.decode(Int.self, column: "showtime_id"), holdID: try row.decode(String.self, column: "hold_id"))
        }
        return closed.count
    }
}
