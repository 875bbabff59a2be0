public import Logging
import NIOPosix
import Synchronization

/// A connection leased from a `PostgresPool`, valid only inside the `withConnection` or
/// `withTransaction` closure that received it. Queries on it run one after another, in the
/// same session (and transaction).
public final class PostgresConnection: Sendable {
    let underlying: LibpqConnection
    private let threadPool: NIOThreadPool
    private let isLeased = Mutex(true)
    /// The pool's logger.
    public let logger: Logger

    init(underlying: LibpqConnection, threadPool: NIOThreadPool, logger: Logger) {
        self.underlying = underlying
        self.threadPool = threadPool
        self.logger = logger
    }

    /// Runs `query` (on the pool's I/O threads) and returns its rows.
    ///
    /// A server error throws `PostgresError` with its SQLSTATE mapped to a `code`; a broken
    /// connection throws `.connectionLost`, and the pool then discards the connection.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        guard self.isLeased.withLock({ $0 }) else {
            throw PostgresError(
                code: .connectionLost,
                message: "a PostgresConnection was used after its withConnection/withTransaction closure returned"
            )
        }
        self.logger.trace("postgres query", metadata: ["postgres.sql": "\(query.sql)"])
        let underlying = self.underlying
        do {
            return try await self.threadPool.runIfActive { try underlying.execute(query) }
        } catch is NIOThreadPoolError.ThreadPoolInactive {
            throw PostgresError(code: .poolClosed, message: "the pool is closed")
        }
    }

    /// Runs `query` even when the current task is cancelled: for clean-up statements such as
    /// `ROLLBACK`, which must not be skipped.
    @discardableResult
    func queryIgnoringCancellation(_ query: PostgresQuery) async throws -> PostgresRows {
        guard self.isLeased.withLock({ $0 }) else {
            throw PostgresError(code: .connectionLost, message: "a PostgresConnection was used after its closure returned")
        }
        let underlying = self.underlying
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PostgresRows, any Error>) in
            self.threadPool.submit { state in
                guard case .active = state else {
                    continuation.resume(throwing: PostgresError(code: .poolClosed, message: "the pool is closed"))
                    return
                }
                continuation.resume(with: Result { try underlying.execute(query) })
            }
        }
    }

    /// Whether the session is inside a transaction block.
    var isInTransaction: Bool { self.underlying.isInTransaction }

    /// Ends the lease: later queries on this object fail instead of using a connection that
    /// may be leased to someone else.
    func endLease() {
        self.isLeased.withLock { $0 = false }
    }
}
