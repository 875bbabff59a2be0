import Foundation
public import Logging
public import RedisClient
public import ServiceLifecycle
import Synchronization

/// Fans availability deltas out to this instance's live clients: one Redis subscription per
/// instance (a pattern over every showtime's channel), however many clients watch.
///
/// Deltas go out in frames: whatever arrives within `frame` of the first pending delta reaches
/// every client as one batch. When a premiere goes on sale a showtime changes hundreds of
/// times a second; one write per delta per client cost more than everything else the server
/// did. A quiet showtime's delta waits at most one frame.
///
/// A client that reads too slowly is dropped (its stream ends) rather than buffered without
/// bound; so are all clients when the Redis subscription breaks or comes up, since they may
/// have missed deltas. Either way a client reconnects with its last version and gets what it
/// missed or a fresh snapshot. While there is no subscription the live route refuses (503).
public final class AvailabilityBroadcaster: Service, Sendable {
    public static let pattern = "bo:{st:*}:events"


    private let redis: RedisClient
    private let logger: Logger
    private let bufferLimit: Int
    private let subscribers = Mutex<[Int: [Int: DeltaFeed]]>([:])
    /// The newest version each showtime's deltas (or a reader) showed while subscribed: a seat
    /// map's `If-None-Match` is answered from here without a Redis read. Emptied whenever the
    /// subscription breaks, since deltas may have been missed.
    private let latestVersions = Mutex<[Int: Int]>([:])
    private let nextID = Atomic<Int>(0)
    private let subscribed = Atomic<Bool>(false)
    private let frame: Duration
    /// Deltas of the open frame, per showtime; empty between frames.
    private let framed = Mutex<[Int: [AvailabilityDelta]]>([:])
    /// One element when a frame opens (its first delta arrived).
    private let frameOpened: AsyncStream<Void>
    private let frameOpener: AsyncStream<Void>.Continuation

    public init(redis: RedisClient, bufferLimit: Int = 256, frame: Duration = .milliseconds(50), logger: Logger) {
        self.redis = redis
        self.bufferLimit = bufferLimit
        self.frame = frame
        self.logger = logger
        (frameOpened, frameOpener) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Whether the Redis subscription is up (deltas are flowing).
    public var isSubscribed: Bool { subscribed.load(ordering: .relaxed) }

    /// The showtime's current version as this instance knows it, or nil (read Redis then).
    public func knownVersion(showtimeID: Int) -> Int? {
        guard isSubscribed else { return nil }
        return latestVersions.withLock { $0[showtimeID] }
    }

    /// Forgets what this instance knows of a showtime's version, after it changed availability
    /// itself: its own next reader then asks Redis rather than wait for the delta.
    public func forgetVersion(showtimeID: Int) {
        _ = latestVersions.withLock { $0.removeValue(forKey: showtimeID) }
    }

    /// Records a version read from Redis; a newer one from a delta wins.
    public func noteVersion(_ version: Int, showtimeID: Int) {
        guard isSubscribed else { return }
        latestVersions.withLock { all in
            if (all[showtimeID] ?? Int.min) < version { all[showtimeID] = version }
        }
    }

    /// Runs `body` with the deltas of one showtime, from now on, in order.
    public func withDeltas<Result: Sendable>(
        showtimeID: Int,
        _ body: (DeltaFeed) async throws -> Result
    ) async rethrows -> Result {
        let feed = DeltaFeed(limit: bufferLimit)
        let id = nextID.add(1, ordering: .relaxed).newValue
        subscribers.withLock { $0[showtimeID, default: [:]][id] = feed }
        defer {
            subscribers.withLock { all in
                all[showtimeID]?[id] = nil
                if all[showtimeID]?.isEmpty == true { all[showtimeID] = nil }
            }
            feed.finish()
        }
        return try await body(feed)
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.deliverFrames() }
            await subscribe()
            group.cancelAll()
        }
        dropEveryone()
    }

    /// Keeps the subscription up until graceful shutdown, resubscribing with backoff.
    private func subscribe() async {
        var backoff: Duration = .milliseconds(50)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await redis.withSubscription(patterns: [Self.pattern]) { messages in
                    // Clients that joined while there was no subscription missed what happened
                    // meanwhile: they reconnect and get it (or a fresh snapshot).
                    dropEveryone()
                    subscribed.store(true, ordering: .relaxed)
                    backoff = .milliseconds(50)
                    for try await message in messages.cancelOnGracefulShutdown() {
                        deliver(message)
                    }
                }
            } catch {
                logger.warning("availability subscription lost; resubscribing", metadata: ["error": "\(error)"])
            }
            subscribed.store(false, ordering: .relaxed)
            latestVersions.withLock { $0 = [:] }
            dropEveryone()
            let delay = backoff
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            backoff = min(backoff * 2, .seconds(2))
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
        noteVersion(version, showtimeID: showtimeID)
        let delta = AvailabilityDelta(version: version, json: text)
        guard frame > .zero else { return offer([delta], showtimeID: showtimeID) }
        let opensFrame = framed.withLock { framed in
            defer { framed[showtimeID, default: []].append(delta) }
            return framed.isEmpty
        }
        if opensFrame { frameOpener.yield() }
    }

    private func offer(_ deltas: [AvailabilityDelta], showtimeID: Int) {
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
public final class DeltaFeed: AsyncSequence, Sendable {
    public typealias Element = [AvailabilityDelta]

    private struct State {
        var pending: [AvailabilityDelta] = []
        var finished = false
    }

    private let state = Mutex(State())
    private let wake: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation
    private let limit: Int

    init(limit: Int) {
        self.limit = limit
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
                return false
            }
            state.pending += deltas
            return true
        }
        if accepted { wakeContinuation.yield() } else { wakeContinuation.finish() }
        return accepted
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
                let (batch, finished) = feed.state.withLock { state in
                    defer { state.pending.removeAll(keepingCapacity: true) }
                    return (state.pending, state.finished)
                }
                if !batch.isEmpty { return batch }
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
