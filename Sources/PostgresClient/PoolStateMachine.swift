/// The pool's bookkeeping, without I/O: which connections are idle, how many are leased or
/// being opened, who waits (first come, first served), and whether the pool is closing.
///
/// Each event is a `mutating` method returning what the caller must do; `PostgresPool` runs
/// it under its lock and then performs the returned actions. Generic over the connection so
/// that it is tested on its own.
struct PoolStateMachine<Connection> {
    /// What a task asking for a connection gets.
    enum Lease {
        /// An open, idle connection.
        case connection(Connection)
        /// Permission to open a new connection (the caller owns that slot).
        case openNew
    }

    enum AcquireAction {
        case lease(Lease)
        /// Wait; the waiter is `id` until it is woken (`ReleaseAction.wake`) or gives up.
        case wait(id: Int)
        case failClosed
    }

    struct ReleaseAction {
        /// Close this connection (broken, not reusable, or the pool is closing).
        var close: Connection?
        /// Hand this lease to this waiter.
        var wake: (id: Int, lease: Lease)?
        /// The pool was closing and the last lease came back: shutdown may finish.
        var closeFinished = false
    }

    struct CloseAction {
        var close: [Connection]
        var failWaiters: [Int]
        var closeFinished: Bool
    }

    let maxConnections: Int
    private(set) var idle: [Connection] = []
    private(set) var leased = 0
    private(set) var opening = 0
    private(set) var waiters: [Int] = []
    private(set) var isClosed = false
    private var nextWaiterID = 0

    init(maxConnections: Int) {
        precondition(maxConnections > 0, "maxConnections must be at least 1")
        self.maxConnections = maxConnections
    }

    /// Connections open or being opened.
    var open: Int { self.idle.count + self.leased + self.opening }

    mutating func acquire() -> AcquireAction {
        if self.isClosed { return .failClosed }
        // Waiters are served first; a newcomer never overtakes them.
        if self.waiters.isEmpty {
            if let connection = self.idle.popLast() {
                self.leased += 1
                return .lease(.connection(connection))
            }
            if self.open < self.maxConnections {
                self.opening += 1
                return .lease(.openNew)
            }
        }
        let id = self.nextWaiterID
        self.nextWaiterID += 1
        self.waiters.append(id)
        return .wait(id: id)
    }

    /// A new connection was opened for an `.openNew` lease; it is now leased. Returns false
    /// when the pool closed meanwhile (the caller closes the connection and calls `released`).
    mutating func opened() -> Bool {
        self.opening -= 1
        self.leased += 1
        return !self.isClosed
    }

    /// Opening a connection for an `.openNew` lease failed: the slot passes to the next waiter.
    mutating func openFailed() -> ReleaseAction {
        self.opening -= 1
        return self.freeSlot(closing: nil)
    }

    /// A leased connection comes back; `reusable` is false when it broke or is mid-transaction.
    mutating func released(_ connection: Connection, reusable: Bool) -> ReleaseAction {
        self.leased -= 1
        if self.isClosed {
            return ReleaseAction(close: connection, closeFinished: self.leased == 0 && self.opening == 0)
        }
        guard reusable else {
            return self.freeSlot(closing: connection)
        }
        if !self.waiters.isEmpty {
            self.leased += 1
            return ReleaseAction(wake: (self.waiters.removeFirst(), .connection(connection)))
        }
        self.idle.append(connection)
        return ReleaseAction()
    }

    /// A waiter timed out or was cancelled. False when it is no longer waiting (it was woken).
    mutating func cancelWaiter(id: Int) -> Bool {
        guard let index = self.waiters.firstIndex(of: id) else { return false }
        self.waiters.remove(at: index)
        return true
    }

    /// Stop handing out connections: idle ones close now, waiters fail, leased ones close
    /// when they come back.
    mutating func close() -> CloseAction {
        guard !self.isClosed else {
            return CloseAction(close: [], failWaiters: [], closeFinished: self.leased == 0 && self.opening == 0)
        }
        self.isClosed = true
        let action = CloseAction(close: self.idle, failWaiters: self.waiters, closeFinished: self.leased == 0 && self.opening == 0)
        self.idle = []
        self.waiters = []
        return action
    }

    /// A connection slot became free (a connection was discarded, or opening one failed).
    private mutating func freeSlot(closing connection: Connection?) -> ReleaseAction {
        if self.isClosed {
            return ReleaseAction(close: connection, closeFinished: self.leased == 0 && self.opening == 0)
        }
        if !self.waiters.isEmpty {
            self.opening += 1
            return ReleaseAction(close: connection, wake: (self.waiters.removeFirst(), .openNew))
        }
        return ReleaseAction(close: connection)
    }
}

extension PoolStateMachine.Lease: Sendable where Connection: Sendable {}
