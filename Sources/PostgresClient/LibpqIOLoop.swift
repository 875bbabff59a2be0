import NIOPosix
import Synchronization

#if canImport(Glibc)
private import Glibc
#elseif canImport(Musl)
private import Musl
#elseif canImport(Darwin)
private import Darwin
#endif

/// Runs the queries of many non-blocking libpq connections on one thread, as pgbench does:
/// one `poll()` over the sockets of the connections with a query in flight, plus a wake-up
/// pipe that `submit` writes to. A blocking thread per connection spent most of its time
/// context-switching on a small machine.
///
/// A query goes `submit` → the submission queue (under a lock) → the loop, which sends it with
/// `LibpqConnection.startQuery`, waits for the socket, reads the results with
/// `continueQuery`, and resumes the caller's continuation (Swift then runs the caller's task on
/// its own pool). Queries on one connection run one after another, in submission order.
///
/// Sendable without `@unchecked`: everything the loop mutates lives in `run()`'s locals on its
/// own thread; other threads touch only the lock-protected submission queue and the pipe.
final class LibpqIOLoop: Sendable {
    /// A submitted query: where it runs, what it is, and who waits for its rows.
    struct Operation: Sendable {
        let connection: LibpqConnection
        let query: PostgresQuery
        let continuation: CheckedContinuation<PostgresRows, any Error>
    }

    private struct Submissions {
        var queue: [Operation] = []
        /// A byte is in the pipe (or about to be) and the loop has not taken the queue since,
        /// so further submissions need not write another.
        var isWakePending = false
        var isStopping = false
        var hasStopped = false
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// The queries of one connection: the first is in flight, the others wait their turn.
    private final class Entry {
        let connection: LibpqConnection
        var queue: [Operation] = []
        var progress = LibpqConnection.QueryProgress()
        var wait: LibpqConnection.QueryStep.Wait?

        init(connection: LibpqConnection) { self.connection = connection }
    }

    private let submissions = Mutex(Submissions())
    private let wakeReadFD: Int32
    private let wakeWriteFD: Int32

    init() {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { fatalError("pipe() failed: errno \(errno)") }
        for fd in fds {
            // Non-blocking both ways: the loop drains without blocking, and a full pipe
            // already guarantees a wake-up.
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        self.wakeReadFD = fds[0]
        self.wakeWriteFD = fds[1]
    }

    deinit {
        close(self.wakeReadFD)
        close(self.wakeWriteFD)
    }

    /// Starts the loop on one of `threadPool`'s threads, which it keeps until `stop()`.
    func start(on threadPool: NIOThreadPool) {
        threadPool.submit { state in
            guard case .active = state else {
                self.finish(failing: [], [:])
                return
            }
            self.run()
        }
    }

    /// Queues a query for the loop. After `stop()` it fails at once with `.poolClosed`.
    func submit(_ operation: Operation) {
        let (accepted, mustWake) = self.submissions.withLock { state -> (Bool, Bool) in
            guard !state.isStopping else { return (false, false) }
            state.queue.append(operation)
            if state.isWakePending { return (true, false) }
            state.isWakePending = true
            return (true, true)
        }
        guard accepted else {
            operation.connection.queryFinished()
            operation.continuation.resume(throwing: PostgresError(code: .poolClosed, message: "the pool is closed"))
            return
        }
        if mustWake { self.wake() }
    }

    /// Ends the loop: queries still queued or in flight fail with `.poolClosed`. Returns when
    /// the loop's thread is free again.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let hasStopped = self.submissions.withLock { state in
                state.isStopping = true
                if !state.hasStopped { state.stopWaiters.append(continuation) }
                return state.hasStopped
            }
            if hasStopped {
                continuation.resume()
            } else {
                self.wake()
            }
        }
    }

    /// Like `stop()`, without waiting (for a pool that is dropped without being closed).
    func stopSoon() {
        self.submissions.withLock { $0.isStopping = true }
        self.wake()
    }

    // MARK: - The loop

    private func run() {
        var entries: [ObjectIdentifier: Entry] = [:]
        var fds: [pollfd] = []
        var polled: [Entry] = []

        while true {
            let (operations, isStopping) = self.submissions.withLock { state in
                defer {
                    state.queue.removeAll(keepingCapacity: true)
                    state.isWakePending = false
                }
                return (state.queue, state.isStopping)
            }
            if isStopping {
                self.finish(failing: operations, entries)
                return
            }
            for operation in operations {
                let id = ObjectIdentifier(operation.connection)
                let entry: Entry
                if let existing = entries[id] {
                    entry = existing
                } else {
                    entry = Entry(connection: operation.connection)
                    entries[id] = entry
                }
                entry.queue.append(operation)
                if entry.queue.count == 1 { self.startNext(entry, &entries) }
            }

            fds.removeAll(keepingCapacity: true)
            polled.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: self.wakeReadFD, events: Int16(POLLIN), revents: 0))
            for entry in entries.values {
                guard let wait = entry.wait else { continue }
                // While a query is being sent, readable matters too: libpq must read the
                // server's replies or a large send could deadlock (see `PQflush`).
                let events = wait.forWriting ? Int16(POLLIN | POLLOUT) : Int16(POLLIN)
                fds.append(pollfd(fd: wait.socket, events: events, revents: 0))
                polled.append(entry)
            }

            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 {
                guard errno == EINTR else { fatalError("poll() failed: errno \(errno)") }
                continue
            }
            if fds[0].revents != 0 { self.drainWakePipe() }
            for (index, entry) in polled.enumerated() {
                let revents = Int32(fds[index + 1].revents)
                guard revents != 0, let wait = entry.wait else { continue }
                // Errors and hang-ups count as readable: reading is how libpq learns of them.
                let readable = revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL) != 0
                let step = entry.connection.continueQuery(&entry.progress, flushing: wait.forWriting, readable: readable)
                if self.apply(step, to: entry) { self.startNext(entry, &entries) }
            }
        }
    }

    /// Starts the entry's next queued query (and the ones after, if they finish at once);
    /// forgets the entry when its queue is empty.
    private func startNext(_ entry: Entry, _ entries: inout [ObjectIdentifier: Entry]) {
        while let operation = entry.queue.first {
            let step = entry.connection.startQuery(operation.query, &entry.progress)
            if !self.apply(step, to: entry) { return }
        }
        entries[ObjectIdentifier(entry.connection)] = nil
    }

    /// Records what the query in flight waits for, or completes it. True when it completed.
    private func apply(_ step: LibpqConnection.QueryStep, to entry: Entry) -> Bool {
        switch step {
        case .wait(let wait):
            entry.wait = wait
            return false
        case .done(let result):
            entry.wait = nil
            let operation = entry.queue.removeFirst()
            operation.connection.queryFinished()
            operation.continuation.resume(with: result)
            return true
        }
    }

    /// Fails every query queued or in flight with `.poolClosed`, refuses new ones, and wakes
    /// whoever waits in `stop()`.
    private func finish(failing operations: [Operation], _ entries: [ObjectIdentifier: Entry]) {
        let (remaining, waiters) = self.submissions.withLock { state in
            state.isStopping = true
            state.hasStopped = true
            defer {
                state.queue = []
                state.stopWaiters = []
            }
            return (state.queue, state.stopWaiters)
        }
        let error = PostgresError(code: .poolClosed, message: "the pool is closed")
        var abandoned = operations + remaining
        for entry in entries.values {
            entry.connection.abandonQuery(&entry.progress)
            abandoned.append(contentsOf: entry.queue)
        }
        for operation in abandoned {
            operation.connection.queryFinished()
            operation.continuation.resume(throwing: error)
        }
        for waiter in waiters { waiter.resume() }
    }

    private func wake() {
        var byte: UInt8 = 1
        // EAGAIN means the pipe is full, so the loop is due to wake anyway.
        while write(self.wakeWriteFD, &byte, 1) < 0, errno == EINTR {}
    }

    private func drainWakePipe() {
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while true {
            let count = withUnsafeMutableBytes(of: &buffer) { read(self.wakeReadFD, $0.baseAddress, $0.count) }
            if count > 0 || (count < 0 && errno == EINTR) { continue }
            return
        }
    }
}
