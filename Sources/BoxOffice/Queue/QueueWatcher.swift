public import Foundation
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

/// Pushes waiting people's places to their open streams (`GET /queue/{ticket}/events`): every
/// `interval`, one script call per room reads the places of all the tickets this instance
/// streams (instead of one HTTP poll per person), and `QueuePushPolicy` decides who is told.
public final class QueueWatcher: Service, Sendable {
    public enum Update: Sendable, Equatable {
        case state(WaitingRoom.State)
        case heartbeat
    }

    struct Watch {
        var ticket: String
        var userID: UUID
        var continuation: AsyncStream<Update>.Continuation
        var last: WaitingRoom.State
        var toldAt: ContinuousClock.Instant
    }

    let room: WaitingRoom
    let policy: QueuePushPolicy
    let interval: Duration
    let logger: Logger
    /// Showtime → stream id → watch.
    private let watches = Mutex<[Int: [UInt64: Watch]]>([:])
    private let nextID = Atomic<UInt64>(0)
    /// Tickets per script call (Lua's `unpack` has a bound).
    static let batch = 1000
    /// For whoever watches an on-sale: how many wait on a stream here, and how much they are told.
    private let openStreams = Gauge(label: "queue_streams_open")
    private let sentUpdates = Counter(label: "queue_stream_updates_total")

    public init(room: WaitingRoom, policy: QueuePushPolicy = QueuePushPolicy(), interval: Duration = .milliseconds(250), logger: Logger) {
        self.room = room
        self.policy = policy
        self.interval = interval
        self.logger = logger
    }

    /// The ticket's updates after `current` (which the caller has told already). The stream
    /// ends after a final state, when Redis no longer knows the ticket, or when the reader stops.
    public func updates(showtimeID: Int, ticket: String, userID: UUID, current: WaitingRoom.State) -> AsyncStream<Update> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream.makeStream(of: Update.self, bufferingPolicy: .bufferingNewest(4))
        watches.withLock {
            $0[showtimeID, default: [:]][id] = Watch(
                ticket: ticket, userID: userID, continuation: continuation, last: current, toldAt: .now
            )
        }
        continuation.onTermination = { [weak self] _ in
            self?.watches.withLock { all in
                all[showtimeID]?[id] = nil
                if all[showtimeID]?.isEmpty == true { all[showtimeID] = nil }
            }
        }
        return stream
    }

    public func run() async throws {
        await periodically(every: interval, logger: logger, failure: "waiting-room streams could not be updated") {
            try await tick()
        }
        // Shutting down: every stream ends (clients reconnect elsewhere or poll).
        for continuation in watches.withLock({ $0.values.flatMap { $0.values.map(\.continuation) } }) { continuation.finish() }
    }

    func tick() async throws {
        let rooms = watches.withLock { all in all.mapValues { $0.map { (id: $0.key, ticket: $0.value.ticket, userID: $0.value.userID) } } }
        openStreams.record(rooms.values.reduce(0) { $0 + $1.count })
        for (showtimeID, entries) in rooms {
            var start = 0
            while start < entries.count {
                let chunk = entries[start..<min(start + Self.batch, entries.count)]
                start += Self.batch
                let now = ContinuousClock.now
                // Places (a rank each) only for the streams due to be told one; for the others
                // only whether their status changed.
                let due = watches.withLock { all in
                    chunk.map { entry in
                        all[showtimeID]?[entry.id].map { policy.isDue(last: $0.last, elapsed: now - $0.toldAt) } ?? false
                    }
                }
                let states = try await room.states(
                    showtimeID: showtimeID, tickets: zip(chunk, due).map { ($0.ticket, $0.userID, $1) }
                )
                // Finished outside the lock: ending a stream runs its onTermination, which takes it.
                var ended: [AsyncStream<Update>.Continuation] = []
                var sent = 0
                watches.withLock { all in
                    for (entry, watched) in zip(chunk, states) {
                        guard var watch = all[showtimeID]?[entry.id] else { continue }
                        guard let watched else {
                            ended.append(watch.continuation)
                            continue
                        }
                        guard case .state(let state) = watched else {
                            // Waiting, not due. From sold out, that is news: its place next tick.
                            if case .soldOut = watch.last { watch.toldAt = now - policy.heartbeat }
                            all[showtimeID]?[entry.id] = watch
                            continue
                        }
                        switch policy.decide(last: watch.last, next: state, elapsed: now - watch.toldAt) {
                        case .wait: continue
                        case .heartbeat: watch.continuation.yield(.heartbeat)
                        case .send:
                            sent += 1
                            watch.continuation.yield(.state(state))
                            watch.last = state
                            if state.isFinal { ended.append(watch.continuation) }
                        }
                        watch.toldAt = now
                        all[showtimeID]?[entry.id] = watch
                    }
                }
                for continuation in ended { continuation.finish() }
                if sent > 0 { sentUpdates.increment(by: sent) }
            }
        }
    }
}
