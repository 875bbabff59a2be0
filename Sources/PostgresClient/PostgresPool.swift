public import Logging
import Metrics
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// The transaction isolation level of `withTransaction`.
public enum PostgresIsolation: Sendable, Hashable {
    case readCommitted, repeatableRead, serializable

    var sql: String {
        switch self {
        case .readCommitted: "READ COMMITTED"
        case .repeatableRead: "REPEATABLE READ"
        case .serializable: "SERIALIZABLE"
        }
    }
}

/// How PostgreSQL plans the prepared statements of one transaction (`plan_cache_mode`).
public enum PostgresPlanning: Sendable, Hashable {
    /// The session's setting, which is PostgreSQL's `auto` unless the server is set otherwise:
    /// custom plans for each run's values until a generic plan looks no costlier. Statements
    /// whose custom plans prune branches by their values (`$1 IS NULL`) never look so, and are
    /// planned again at every run.
    case automatic
    /// One plan per statement and session, reused for any values: for hot statements whose
    /// best plan does not depend on them (rows named by key).
    case generic
    /// Planned for each run's values: for optional filters, where the values pick the index.
    case custom

    var setting: String? {
        switch self {
        case .automatic: nil
        case .generic: "force_generic_plan"
        case .custom: "force_custom_plan"
        }
    }
}

/// A snapshot of the pool's connections.
public struct PostgresPoolStatistics: Sendable, Hashable {
    /// Connections open or being opened.
    public var open: Int
    /// Open connections nobody uses.
    public var idle: Int
    /// Connections leased to a `withConnection` or `withTransaction` closure.
    public var inUse: Int
    /// Tasks waiting for a connection.
    public var waiting: Int
}

/// A pool of PostgreSQL connections over libpq.
///
/// Connections open lazily, up to `maxConnections`; when all are busy, callers wait in line
/// (first come, first served) for at most `acquireTimeout`, then get `.poolTimeout`. A
/// connection that broke (server restart, terminated backend) is discarded when it comes
/// back, and the next caller opens a fresh one.
///
/// Queries run without blocking: `configuration.ioThreads` I/O threads (one by default) each
/// multiplex their share of the connections over `poll()`, with libpq in non-blocking mode.
/// Opening, reconnecting and closing connections block; those rare calls run on a small
/// `NIOThreadPool`. Nothing blocks Swift's cooperative pool.
///
/// Run it in a `ServiceGroup` (`run()` closes it at graceful shutdown), or call `close()`.
public final class PostgresPool: Service, Sendable {
    private typealias Machine = PoolStateMachine<LibpqConnection>

    private enum WaiterSlot {
        /// Registered in the queue; its task has not started waiting yet.
        case pending
        case waiting(CheckedContinuation<Machine.Lease, any Error>)
        /// Woken (or failed) before its task started waiting.
        case resolved(Result<Machine.Lease, any Error>)
    }

    private struct State {
        var machine: Machine
        var waiters: [Int: WaiterSlot] = [:]
        var isCloseFinished = false
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
        var isThreadPoolShutDown = false
    }

    public let configuration: PostgresConfiguration
    private let logger: Logger
    /// Runs the blocking libpq calls: opening, reconnecting and closing connections.
    private let threadPool: NIOThreadPool
    /// Hosts the I/O loops, one thread each.
    private let ioThreadPool: NIOThreadPool
    private let ioLoops: [LibpqIOLoop]
    /// New connections go to the I/O loops in turn.
    private let nextIOLoop = Atomic<Int>(0)
    private let state: Mutex<State>
    private let idleGauge = Gauge(label: "postgres_pool_connections", dimensions: [("state", "idle")])
    private let inUseGauge = Gauge(label: "postgres_pool_connections", dimensions: [("state", "in_use")])
    private let acquireTimeouts = Counter(label: "postgres_pool_acquire_timeouts_total")

    public init(configuration: PostgresConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        let size = max(1, configuration.maxConnections)
        self.state = Mutex(State(machine: Machine(maxConnections: size)))
        // Opening connections is rare after warm-up; two threads open them in parallel.
        self.threadPool = NIOThreadPool(numberOfThreads: min(size, 2))
        self.threadPool.start()
        let ioThreads = max(1, configuration.ioThreads)
        self.ioThreadPool = NIOThreadPool(numberOfThreads: ioThreads)
        self.ioThreadPool.start()
        self.ioLoops = (0..<ioThreads).map { _ in LibpqIOLoop() }
        for loop in self.ioLoops { loop.start(on: self.ioThreadPool) }
    }

    deinit {
        // Normally `close()` did this; a pool dropped without closing must not leak its threads.
        let mustShutDown = self.state.withLock { state in
            defer { state.isThreadPoolShutDown = true }
            return !state.isThreadPoolShutDown
        }
        if mustShutDown {
            for loop in self.ioLoops { loop.stopSoon() }
            self.ioThreadPool.shutdownGracefully { _ in }
            self.threadPool.shutdownGracefully { _ in }
        }
    }

    // MARK: - Service

    /// Waits for graceful shutdown (or cancellation), then closes the pool.
    public func run() async throws {
        try? await gracefulShutdown()
        await self.close()
    }

    /// Closes the pool: waiters fail with `.poolClosed`, new requests too; idle connections close
    /// now, leased ones when their closure returns (their queries keep running meanwhile); then
    /// the I/O threads stop. Returns when all
    /// of that is done. Safe to call more than once.
    public func close() async {
        let (toClose, mustWait) = self.state.withLock { state -> ([LibpqConnection], Bool) in
            let action = state.machine.close()
            let error = PostgresError(code: .poolClosed, message: "the pool is closed")
            for id in action.failWaiters {
                Self.resolve(&state, waiter: id, with: .failure(error))
            }
            if action.closeFinished { state.isCloseFinished = true }
            self.recordGauges(state)
            return (action.close, !state.isCloseFinished)
        }
        if !toClose.isEmpty {
            self.logger.debug("closing postgres connections", metadata: ["count": "\(toClose.count)"])
        }
        for connection in toClose {
            await self.closeOnThreadPool(connection)
        }
        if mustWait {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                self.state.withLock { state in
                    if state.isCloseFinished {
                        continuation.resume()
                    } else {
                        state.closeWaiters.append(continuation)
                    }
                }
            }
        }
        let mustShutDown = self.state.withLock { state in
            defer { state.isThreadPoolShutDown = true }
            return !state.isThreadPoolShutDown
        }
        if mustShutDown {
            for loop in self.ioLoops { await loop.stop() }
            try? await self.ioThreadPool.shutdownGracefully()
            try? await self.threadPool.shutdownGracefully()
        }
    }

    // MARK: - Using connections

    /// Leases a connection for the duration of `body`. The connection returns to the pool when
    /// `body` returns or throws; it must not be kept beyond.
    public func withConnection<R: Sendable>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> R
    ) async throws -> R {
        let underlying = try await self.acquire()
        do {
            try await self.reconnectIfBrokenAfterIdle(underlying)
        } catch {
            self.release(underlying)
            throw error
        }
        let connection = PostgresConnection(underlying: underlying, logger: self.logger)
        let result: R
        do {
            result = try await body(connection)
        } catch {
            connection.endLease()
            self.release(underlying)
            throw error
        }
        connection.endLease()
        self.release(underlying)
        return result
    }

    /// Runs `body` in a transaction: `BEGIN ISOLATION LEVEL ...`, then `COMMIT`, or `ROLLBACK`
    /// when `body` throws (and the error is rethrown). `planning` other than `.automatic` is set
    /// for the transaction alone, in the same round trip as `BEGIN`.
    ///
    /// If `body` swallowed a failed statement, the transaction is aborted and `COMMIT` rolls it
    /// back; that throws `.server` with SQLSTATE 25P02 rather than pretending success.
    public func withTransaction<R: Sendable>(
        isolation level: PostgresIsolation = .readCommitted,
        planning: PostgresPlanning = .automatic,
        actorIsolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> R
    ) async throws -> R {
        try await self.withConnection(isolation: actorIsolation) { connection in
            let begin = "BEGIN ISOLATION LEVEL \(level.sql)" + (planning.setting.map { "; SET LOCAL plan_cache_mode = \($0)" } ?? "")
            try await connection.query(PostgresQuery(unsafeSQL: begin))
            let result: R
            do {
                result = try await body(connection)
            } catch {
                do {
                    try await connection.queryIgnoringCancellation(PostgresQuery(unsafeSQL: "ROLLBACK"))
                } catch let rollbackError {
                    // The connection stays in a transaction (or is broken), so the pool discards it.
                    self.logger.debug("postgres ROLLBACK failed", metadata: ["error": "\(rollbackError)"])
                }
                throw error
            }
            let commit = try await connection.query(PostgresQuery(unsafeSQL: "COMMIT"))
            if commit.commandTag == "ROLLBACK" {
                throw PostgresError(
                    code: .server,
                    message: "the transaction was aborted by an earlier failed statement and has been rolled back",
                    sqlState: "25P02"
                )
            }
            return result
        }
    }

    /// Runs one statement on any free connection.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await self.withConnection { connection in
            try await connection.query(query)
        }
    }

    /// `SELECT 1`: throws when the database cannot be reached.
    public func ping() async throws {
        try await self.query("SELECT 1")
    }

    public var statistics: PostgresPoolStatistics {
        self.state.withLock { state in
            PostgresPoolStatistics(
                open: state.machine.open,
                idle: state.machine.idle.count,
                inUse: state.machine.leased,
                waiting: state.machine.waiters.count
            )
        }
    }

    // MARK: - Acquire and release

    private func acquire() async throws -> LibpqConnection {
        let action = self.state.withLock { state -> Machine.AcquireAction in
            let action = state.machine.acquire()
            if case .wait(let id) = action { state.waiters[id] = .pending }
            self.recordGauges(state)
            return action
        }
        switch action {
        case .failClosed:
            throw PostgresError(code: .poolClosed, message: "the pool is closed")
        case .lease(let lease):
            return try await self.take(lease)
        case .wait(let id):
            return try await self.take(self.waitForLease(id: id))
        }
    }

    /// Turns a lease into a connection, opening one when the lease is a free slot.
    private func take(_ lease: Machine.Lease) async throws -> LibpqConnection {
        switch lease {
        case .connection(let connection):
            return connection
        case .openNew:
            let connection: LibpqConnection
            do {
                let configuration = self.configuration
                let logger = self.logger
                let loop = self.ioLoops[self.nextIOLoop.wrappingAdd(1, ordering: .relaxed).oldValue % self.ioLoops.count]
                connection = try await self.threadPool.runIfActive {
                    try LibpqConnection.connect(configuration: configuration, logger: logger, loop: loop)
                }
            } catch {
                let action = self.state.withLock { state in
                    let action = state.machine.openFailed()
                    self.apply(action, to: &state)
                    return action
                }
                if let close = action.close { self.closeInBackground(close) }
                if error is NIOThreadPoolError.ThreadPoolInactive {
                    throw PostgresError(code: .poolClosed, message: "the pool is closed")
                }
                if let error = error as? PostgresError {
                    self.logger.warning("could not open a postgres connection", metadata: ["error": "\(error)"])
                }
                throw error
            }
            let isOpen = self.state.withLock { state in
                let isOpen = state.machine.opened()
                self.recordGauges(state)
                return isOpen
            }
            guard isOpen else {
                self.release(connection)
                throw PostgresError(code: .poolClosed, message: "the pool is closed")
            }
            self.logger.debug("opened a postgres connection", metadata: ["postgres.host": "\(connection.hostAndPort)"])
            return connection
        }
    }

    /// At the start of a lease after the connection sat idle: when the server closed it
    /// meanwhile (restart, terminated backend), reconnects before the caller's first statement.
    private func reconnectIfBrokenAfterIdle(_ connection: LibpqConnection) async throws {
        guard connection.isBrokenAfterIdle() else { return }
        do {
            try await self.threadPool.runIfActive { try connection.reset() }
        } catch is NIOThreadPoolError.ThreadPoolInactive {
            throw PostgresError(code: .poolClosed, message: "the pool is closed")
        }
    }

    /// Waits in line for a lease, at most `acquireTimeout`.
    private func waitForLease(id: Int) async throws -> Machine.Lease {
        let timeout = self.configuration.acquireTimeout
        return try await withThrowingTaskGroup(of: Machine.Lease?.self) { group in
            group.addTask {
                try await self.waitInLine(id: id)
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled {
                    let message = "no connection became free within \(timeout) (maxConnections \(self.configuration.maxConnections))"
                    if self.giveUp(waiter: id, error: PostgresError(code: .poolTimeout, message: message)) {
                        self.acquireTimeouts.increment()
                    }
                }
                return nil
            }
            while let result = try await group.next() {
                if let lease = result {
                    group.cancelAll()
                    return lease
                }
            }
            preconditionFailure("the waiting task always returns a lease or throws")
        }
    }

    private func waitInLine(id: Int) async throws -> Machine.Lease {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Machine.Lease, any Error>) in
                self.state.withLock { state in
                    switch state.waiters[id] {
                    case .resolved(let result):
                        state.waiters[id] = nil
                        continuation.resume(with: result)
                    case .pending:
                        state.waiters[id] = .waiting(continuation)
                    case .waiting, nil:
                        preconditionFailure("waiter \(id) waits twice")
                    }
                }
            }
        } onCancel: {
            _ = self.giveUp(waiter: id, error: CancellationError())
        }
    }

    /// Removes a waiter that timed out or was cancelled; false when it was already woken.
    private func giveUp(waiter id: Int, error: any Error) -> Bool {
        self.state.withLock { state in
            guard state.machine.cancelWaiter(id: id) else { return false }
            Self.resolve(&state, waiter: id, with: .failure(error))
            self.recordGauges(state)
            return true
        }
    }

    private func release(_ connection: LibpqConnection) {
        let reusable = connection.isReusable
        if reusable {
            connection.markIdle()
        } else if connection.isBroken {
            self.logger.info("discarding a broken postgres connection", metadata: ["postgres.host": "\(connection.hostAndPort)"])
        } else {
            self.logger.debug("discarding a postgres connection left inside a transaction")
        }
        let action = self.state.withLock { state in
            let action = state.machine.released(connection, reusable: reusable)
            self.apply(action, to: &state)
            return action
        }
        if let close = action.close { self.closeInBackground(close) }
    }

    /// Performs a release action's wake-up and close bookkeeping (under the lock).
    private func apply(_ action: Machine.ReleaseAction, to state: inout State) {
        if let (id, lease) = action.wake {
            Self.resolve(&state, waiter: id, with: .success(lease))
        }
        if action.closeFinished {
            state.isCloseFinished = true
            for waiter in state.closeWaiters { waiter.resume() }
            state.closeWaiters = []
        }
        self.recordGauges(state)
    }

    private static func resolve(_ state: inout State, waiter id: Int, with result: Result<Machine.Lease, any Error>) {
        switch state.waiters.removeValue(forKey: id) {
        case .waiting(let continuation):
            continuation.resume(with: result)
        case .pending:
            state.waiters[id] = .resolved(result)
        case .resolved, nil:
            preconditionFailure("waiter \(id) resolved twice")
        }
    }

    private func recordGauges(_ state: State) {
        self.idleGauge.record(state.machine.idle.count)
        self.inUseGauge.record(state.machine.leased)
    }

    /// PQfinish may block briefly: it runs on the I/O threads (inline if they are gone).
    private func closeInBackground(_ connection: LibpqConnection) {
        self.threadPool.submit { _ in connection.close() }
    }

    private func closeOnThreadPool(_ connection: LibpqConnection) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.threadPool.submit { _ in
                connection.close()
                continuation.resume()
            }
        }
    }
}
