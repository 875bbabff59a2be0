public import Logging
import Synchronization

/// A connection leased from a `PostgresPool`, valid only inside the `withConnection` or
/// `withTransaction` closure that received it. Queries on it run one after another, in the
/// same session (and transaction).
public final class PostgresConnection: Sendable {
    let underlying: LibpqConnection
    private let isLeased = Mutex(true)
    /// The pool's logger.
    public let logger: Logger

    init(underlying: LibpqConnection, logger: Logger) {
        self.underlying = underlying
        self.logger = logger
    }

    /// Runs `query` (on the pool's I/O thread, without blocking) and returns its rows.
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
        // A cancelled task sends nothing; a query already sent runs to its end.
        try Task.checkCancellation()
        self.logger.trace("postgres query", metadata: ["postgres.sql": "\(query.sql)"])
        return try await self.underlying.execute(query)
    }

    /// Runs `query` even when the current task is cancelled: for clean-up statements such as
    /// `ROLLBACK`, which must not be skipped.
    @discardableResult
    func queryIgnoringCancellation(_ query: PostgresQuery) async throws -> PostgresRows {
        guard self.isLeased.withLock({ $0 }) else {
            throw PostgresError(code: .connectionLost, message: "a PostgresConnection was used after its closure returned")
        }
        return try await self.underlying.execute(query)
    }

    /// Whether the session is inside a transaction block.
    var isInTransaction: Bool { self.underlying.isInTransaction }

    /// Ends the lease: later queries on this object fail instead of using a connection that
    /// may be leased to someone else.
    func endLease() {
        self.isLeased.withLock { $0 = false }
    }
}
