import NIOCore

/// The life of one pooled connection slot, apart from I/O: connect lazily, share one connect
/// attempt among all callers, and after a failure refuse at once until an exponential backoff
/// has passed, so that a Redis outage costs callers nothing and a restart is noticed quickly.
struct ConnectionStateMachine<Connection: AnyObject> {
    enum State {
        case idle(retryAt: NIODeadline, failures: Int)
        case connecting(attempt: Int, failures: Int)
        case connected(Connection)
        case shutdown
    }

    enum AcquireAction {
        case use(Connection)
        case startConnecting(attempt: Int)
        case waitForConnect(attempt: Int)
        case failUnavailable(retryIn: TimeAmount)
        case failShutdown
    }

    private(set) var state: State = .idle(retryAt: .uptimeNanoseconds(0), failures: 0)
    private var attempts = 0
    let minimumBackoff: TimeAmount
    let maximumBackoff: TimeAmount

    init(minimumBackoff: TimeAmount, maximumBackoff: TimeAmount) {
        self.minimumBackoff = minimumBackoff
        self.maximumBackoff = maximumBackoff
    }

    mutating func acquire(now: NIODeadline) -> AcquireAction {
        switch state {
        case .connected(let connection):
            return .use(connection)
        case .connecting(let attempt, _):
            return .waitForConnect(attempt: attempt)
        case .idle(let retryAt, let failures):
            if now < retryAt { return .failUnavailable(retryIn: retryAt - now) }
            attempts += 1
            state = .connecting(attempt: attempts, failures: failures)
            return .startConnecting(attempt: attempts)
        case .shutdown:
            return .failShutdown
        }
    }

    /// Returns false when the slot was shut down meanwhile: the caller closes the new connection.
    mutating func connectSucceeded(_ connection: Connection) -> Bool {
        guard case .connecting = state else { return false }
        state = .connected(connection)
        return true
    }

    mutating func connectFailed(now: NIODeadline) {
        guard case .connecting(_, let failures) = state else { return }
        state = .idle(retryAt: now + backoff(afterFailures: failures + 1), failures: failures + 1)
    }

    /// A connection closed: the next caller reconnects at once (a restart is usually brief).
    mutating func connectionClosed(_ connection: Connection) {
        guard case .connected(let current) = state, current === connection else { return }
        state = .idle(retryAt: .uptimeNanoseconds(0), failures: 0)
    }

    /// Returns the connection to close, if any.
    mutating func shutdown() -> Connection? {
        defer { state = .shutdown }
        if case .connected(let connection) = state { return connection }
        return nil
    }

    func backoff(afterFailures failures: Int) -> TimeAmount {
        let exponent = min(failures - 1, 20)
        let nanoseconds = minimumBackoff.nanoseconds << exponent
        return .nanoseconds(min(nanoseconds, maximumBackoff.nanoseconds))
    }
}
