import Foundation
public import Logging
public import RedisClient
public import ServiceLifecycle
import Synchronization

/// Fans availability deltas out to this instance's live clients: one Redis subscription per
/// showtime this instance cares about, however many of its clients watch it.
///
/// Each showtime's deltas go to its shard channel (`SPUBLISH bo:{st:<id>}:events` inside the
/// hold scripts), which lives on the node that serves the showtime's slot: a Redis Cluster
/// carries each message to that node's subscribers only. An instance subscribes to a
/// showtime when a live client of it arrives or its seat map is read, and leaves it once
/// neither happened for `idleAfter`.
///
/// Deltas go out in frames: whatever arrives within `frame` of the first pending delta reaches
/// every client as one batch. When a premiere goes on sale a showtime changes hundreds of
/// times a second; one write per delta per client cost more than everything else the server
/// did. A quiet showtime's delta waits at most one frame.
///
/// A client that reads too slowly is dropped (its stream ends) rather than buffered without
/// bound; so are a showtime's clients when its subscription is lost (its node failed or gave
/// the slot away), since they may have missed deltas. Either way a client reconnects with its
/// last version and gets what it missed (from the showtime's `DeltaHistory`, kept while the
/// subscription lasts) or a fresh snapshot.
public final class AvailabilityBroadcaster: Service, Sendable {
    private let redis: RedisClient
    private let shards: RedisShardSubscriber
    private let logger: Logger
    private let bufferLimit: Int
    private let subscribers = Mutex<[Int: [Int: DeltaFeed]]>([:])
    /// The showtimes subscribed to (or being subscribed), and when this instance last cared.
    private let interest = Mutex<[Int: Interest]>([:])
    /// The newest version each subscribed showtime's deltas (or a reader) showed: a seat map's
    /// `If-None-Match` is answered from here without a Redis read. A showtime's entry goes
    /// when its subscription is lost, since deltas may have been missed.
    private let latestVersions = Mutex<[Int: Int]>([:])
    /// The last `historyLimit` deltas of each subscribed showtime, for clients that resume.
    private let histories = Mutex<[Int: DeltaHistory]>([:])
    private let historyLimit: Int
    private let nextID = Atomic<Int>(0)
    private let frame: Duration
    private let idleAfter: Duration
    /// Deltas of the open frame, per showtime; empty between frames.
    private let framed = Mutex<[Int: [AvailabilityDelta]]>([:])
    /// One element when a frame opens (its first delta arrived).
    private let frameOpened: AsyncStream<Void>
    private let frameOpener: AsyncStream<Void>.Continuation

    private struct Interest {
        var subscribed = false
        var lastWanted: ContinuousClock.Instant
    }

    public init(
        redis: RedisClient, bufferLimit: Int = 256, historyLimit: Int = 1024, frame: Duration = .milliseconds(50),
        idleAfter: Duration = .seconds(60), logger: Logger
    ) {
        self.redis = redis
        self.historyLimit = historyLimit
        self.shards = RedisShardSubscriber(client: redis)
        self.bufferLimit = bufferLimit
        self.frame = frame
        self.idleAfter = idleAfter
        self.logger = logger
        (frameOpened, frameOpener) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// The showtime's current version as this instance knows it, or nil (read Redis then).
    public func knownVersion(showtimeID: Int) -> Int? {
        guard isSubscribed(showtimeID) else { return nil }
        return latestVersions.withLock { $0[showtimeID] }
    }

    /// Forgets what this instance knows of a showtime's version, after it changed availability
    /// itself: its own next reader then asks Redis rather than wait for the delta.
    public func forgetVersion(showtimeID: Int) {
        _ = latestVersions.withLock { $0.removeValue(forKey: showtimeID) }
    }

    /// Records a version read from Redis (a newer one from a delta wins), and that this
    /// instance cares about the showtime: it subscribes to it if it has not yet.
    public func noteVersion(_ version: Int, showtimeID: Int) {
        if isSubscribed(showtimeID) {
            latestVersions.withLock { all in
                if (all[showtimeID] ?? Int.min) < version { all[showtimeID] = version }
            }
        } else {
            Task { _ = await self.subscribe(showtimeID) }
        }
    }

    /// What a client of `withDeltas` that last saw `since` needs, given the version `current`
    /// it read once its feed was registered (which also tells the history where it starts).
    public func resume(showtimeID: Int, since: Int?, current: Int) -> DeltaHistory.Resume {
        guard isSubscribed(showtimeID) else { return since == current ? .upToDate : .snapshot }
        return histories.withLock { all in
            all[showtimeID, default: DeltaHistory(capacity: historyLimit)].noteRead(version: current)
            return all[showtimeID]!.resume(since: since, current: current)
        }
    }

    /// Runs `body` with the deltas of one showtime, from now on, in order. When the showtime's
    /// subscription cannot be made (Redis is down), the feed ends at once.
    /// `whenDropped` is told at once when the client falls too far behind (its reader may be
    /// stuck in a write to that very client).
    public func withDeltas<Result: Sendable>(
        showtimeID: Int,
        whenDropped: (@Sendable () -> Void)? = nil,
        _ body: (DeltaFeed) async throws -> Result
    ) async rethrows -> Result {
        let feed = DeltaFeed(limit: bufferLimit, whenDropped: whenDropped)
        let id = nextID.add(1, ordering: .relaxed).newValue
        subscribers.withLock { $0[showtimeID, default: [:]][id] = feed }
        defer {
            subscribers.withLock { all in
                all[showtimeID]?[id] = nil
                if all[showtimeID]?.isEmpty == true { all[showtimeID] = nil }
            }
            feed.finish()
        }
        if !(await subscribe(showtimeID)) { feed.finish() }
        return try await body(feed)
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.deliverFrames() }
            group.addTask { await self.leaveIdleShowtimes() }
            group.addTask {
                for await event in self.shards.events {
                    switch event {
                    case .message(let message): self.deliver(message)
                    case .lost(let channels): self.lost(channels)
                    }
                }
            }
            try? await gracefulShutdown()
            await shards.close()
            group.cancelAll()
        }
        dropEveryone()
    }

    private func isSubscribed(_ showtimeID: Int) -> Bool {
        interest.withLock { $0[showtimeID]?.subscribed ?? false }
    }

    /// Subscribes to the showtime's deltas unless this instance already does; true once it
    /// does, false when Redis cannot be reached.
    public func follow(showtimeID: Int) async -> Bool {
        await subscribe(showtimeID)
    }

    private func subscribe(_ showtimeID: Int) async -> Bool {
        let alreadySubscribed = interest.withLock { all -> Bool in
            all[showtimeID, default: Interest(lastWanted: .now)].lastWanted = .now
            return all[showtimeID]!.subscribed
        }
        if alreadySubscribed { return true }
        do {
            try await shards.subscribe(ShowtimeKeys(showtimeID: showtimeID).events)
            interest.withLock { $0[showtimeID, default: Interest(lastWanted: .now)].subscribed = true }
            return true
        } catch {
            logger.warning("cannot subscribe to a showtime's deltas", metadata: ["showtime": "\(showtimeID)", "error": "\(error)"])
            return false
        }
    }

    /// A subscription broke: its showtime's clients may have missed deltas and go; the next
    /// client or reader subscribes again.
    private func lost(_ channels: [String]) {
        for channel in channels {
            guard let showtimeID = Self.showtimeID(ofChannel: channel) else { continue }
            _ = interest.withLock { $0.removeValue(forKey: showtimeID) }
            _ = latestVersions.withLock { $0.removeValue(forKey: showtimeID) }
            _ = histories.withLock { $0.removeValue(forKey: showtimeID) }
            let feeds = subscribers.withLock { $0.removeValue(forKey: showtimeID) } ?? [:]
            for feed in feeds.values { feed.finish() }
            if !feeds.isEmpty {
                logger.info("a showtime's live subscription was lost; its clients reconnect", metadata: ["showtime": "\(showtimeID)"])
            }
        }
    }

    /// Every few seconds: leaves showtimes that nobody here watched or read for `idleAfter`.
    private func leaveIdleShowtimes() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(5))
            let watched = subscribers.withLock { Set($0.keys) }
            let now = ContinuousClock.now
            let idle = interest.withLock { all -> [Int] in
                let idle = all.filter { !watched.contains($0.key) && now - $0.value.lastWanted > idleAfter }.map(\.key)
                for showtimeID in idle { all[showtimeID] = nil }
                return idle
            }
            for showtimeID in idle {
                _ = latestVersions.withLock { $0.removeValue(forKey: showtimeID) }
                _ = histories.withLock { $0.removeValue(forKey: showtimeID) }
                shards.unsubscribe(ShowtimeKeys(showtimeID: showtimeID).events)
            }
        }
    }

    /// Hands each frame's deltas to the clients once the frame has lasted `frame`.
    private func deliverFrames() async {
        for await _ in frameOpened {
            try? await Task.sleep(for: frame)  // cancelled: deliver what is pending at once
            let frames = framed.withLock { framed in
                defer { framed.removeAll(keepingCapacity: true) }
                return framed
            }
            for (showtimeID, deltas) in frames { offer(deltas, showtimeID: showtimeID) }
        }
    }

    /// `{"version":17,...}` → 17, without decoding the whole delta.
    /// Scans bytes: Foundation's `range(of:)` showed in profiles, once per delta.
    public static func version(ofDelta text: String) -> Int? {
        let bytes = text.utf8
        let key = "\"version\":".utf8
        var start = bytes.startIndex
        while let quote = bytes[start...].firstIndex(of: UInt8(ascii: "\"")) {
            if bytes[quote...].starts(with: key) {
                let digits = bytes[bytes.index(quote, offsetBy: key.count)...].prefix { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
                return digits.isEmpty ? nil : Int(Substring(digits))
            }
            start = bytes.index(after: quote)
        }
        return nil
    }

    /// `bo:{st:42}:events` → 42.
    static func showtimeID(ofChannel channel: String) -> Int? {
        guard let open = channel.firstIndex(of: ":"), let close = channel.firstIndex(of: "}") else { return nil }
        let inner = channel[channel.index(after: open)..<close]  // "{st:42"
        guard let colon = inner.lastIndex(of: ":") else { return nil }
        return Int(inner[inner.index(after: colon)...])
    }

    private func deliver(_ message: RedisPubSubMessage) {
        guard let showtimeID = Self.showtimeID(ofChannel: message.channel) else { return }
        let text = message.text
        guard let version = Self.version(ofDelta: text) else {
            logger.warning("a delta without a version", metadata: ["channel": "\(message.channel)"])
            return
        }
        latestVersions.withLock { all in
            if (all[showtimeID] ?? Int.min) < version { all[showtimeID] = version }
        }
        let delta = AvailabilityDelta(version: version, json: text)
        guard frame > .zero else { return offer([delta], showtimeID: showtimeID) }
        let opensFrame = framed.withLock { framed in
            defer { framed[showtimeID, default: []].append(delta) }
            return framed.isEmpty
        }
        if opensFrame { frameOpener.yield() }
    }

    private func offer(_ deltas: [AvailabilityDelta], showtimeID: Int) {
        if isSubscribed(showtimeID) {
            histories.withLock { $0[showtimeID, default: DeltaHistory(capacity: historyLimit)].append(deltas) }
        }
        let slow: [Int] = subscribers.withLock { all in
            guard let watchers = all[showtimeID] else { return [] }
            let slow = watchers.filter { !$0.value.offer(deltas) }.map(\.key)
            for id in slow { all[showtimeID]?[id] = nil }
            return slow
        }
        if !slow.isEmpty { logger.info("dropped slow live clients", metadata: ["count": "\(slow.count)"]) }
    }

    private func dropEveryone() {
        framed.withLock { $0.removeAll() }  // from a subscription that broke: its clients go too
        let all = subscribers.withLock { all in
            defer { all = [:] }
            return all
        }
        for watchers in all.values { for feed in watchers.values { feed.finish() } }
    }
}

/// One change of a showtime's availability, as its hold script published it.
public struct AvailabilityDelta: Sendable, Equatable {
    public let version: Int
    /// `{"version":…,"seats":[{"id":…,"status":…},…]}`
    public let json: String
}

/// One client's deltas of one showtime, in order, handed over in batches: whatever arrived
/// while the client was busy with the last batch comes as the next one, so a busy showtime
/// costs a client one write per batch rather than one per delta. A client still `limit` deltas
/// behind when the next frame comes is dropped: it gets what is pending, then the feed ends.
/// An empty batch is a heartbeat (`heartbeat()`), handed over only when nothing is pending.
public final class DeltaFeed: AsyncSequence, Sendable {
    public typealias Element = [AvailabilityDelta]

    private struct State {
        var pending: [AvailabilityDelta] = []
        var finished = false
        var dropped = false
        var heartbeatDue = false
    }

    private let state = Mutex(State())
    private let wake: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation
    private let limit: Int
    private let whenDropped: (@Sendable () -> Void)?

    init(limit: Int, whenDropped: (@Sendable () -> Void)? = nil) {
        self.limit = limit
        self.whenDropped = whenDropped
        (wake, wakeContinuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues a frame's deltas; false when the client still had `limit` deltas of earlier
    /// frames unread and was dropped (it gets what is pending, then the feed ends). A big frame
    /// alone never drops anyone: a busy second must not disconnect every client at once.
    func offer(_ deltas: [AvailabilityDelta]) -> Bool {
        let accepted = state.withLock { state -> Bool in
            guard !state.finished else { return true }
            guard state.pending.count < limit else {
                state.finished = true
                state.dropped = true
                return false
            }
            state.pending += deltas
            return true
        }
        if accepted {
            wakeContinuation.yield()
        } else {
            wakeContinuation.finish()
            whenDropped?()
        }
        return accepted
    }

    /// Makes the reader's next batch an empty one unless deltas are pending: a transport
    /// without keep-alive of its own writes something, and so notices a client that went.
    public func heartbeat() {
        state.withLock { $0.heartbeatDue = true }
        wakeContinuation.yield()
    }

    /// Whether the feed ended because its client fell `limit` deltas behind (not because the
    /// subscription was lost or the server is stopping).
    public var droppedAsSlow: Bool {
        state.withLock { $0.dropped }
    }

    /// Ends the feed once what is pending was taken.
    func finish() {
        state.withLock { $0.finished = true }
        wakeContinuation.finish()
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let feed: DeltaFeed
        var wake: AsyncStream<Void>.Iterator

        public mutating func next() async -> [AvailabilityDelta]? {
            while true {
                let (batch, finished, heartbeat) = feed.state.withLock { state in
                    defer {
                        state.pending.removeAll(keepingCapacity: true)
                        state.heartbeatDue = false
                    }
                    return (state.pending, state.finished, state.heartbeatDue)
                }
                if !batch.isEmpty { return batch }
                if heartbeat && !finished { return [] }
                if finished { return nil }
                // A wake-up may be stale (its delta was taken with an earlier batch): look again.
                if await wake.next() == nil {
                    let rest = feed.state.withLock { state in
                        defer { state.pending.removeAll() }
                        return state.pending
                    }
                    return rest.isEmpty ? nil : rest
                }
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(feed: self, wake: wake.makeAsyncIterator())
    }
}
