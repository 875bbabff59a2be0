import Foundation
public import Logging
public import RedisClient
public import ServiceLifecycle
import Synchronization

/// Fans availability deltas out to this instance's live clients: one Redis subscription per
/// instance (a pattern over every showtime's channel), however many clients watch.
///
/// A client that reads too slowly is dropped (its stream ends) rather than buffered without
/// bound; so are all clients when the Redis subscription breaks, since they may have missed
/// deltas. Either way a client reconnects with its last version and gets what it missed or a
/// fresh snapshot.
public final class AvailabilityBroadcaster: Service, Sendable {
    public static let pattern = "bo:{st:*}:events"

    private struct Subscriber {
        var continuation: AsyncStream<String>.Continuation
    }

    private let redis: RedisClient
    private let logger: Logger
    private let bufferLimit: Int
    private let subscribers = Mutex<[Int: [Int: Subscriber]]>([:])
    /// The newest version each showtime's deltas (or a reader) showed while subscribed: a seat
    /// map's `If-None-Match` is answered from here without a Redis read. Emptied whenever the
    /// subscription breaks, since deltas may have been missed.
    private let latestVersions = Mutex<[Int: Int]>([:])
    private let nextID = Atomic<Int>(0)
    private let subscribed = Atomic<Bool>(false)

    public init(redis: RedisClient, bufferLimit: Int = 256, logger: Logger) {
        self.redis = redis
        self.bufferLimit = bufferLimit
        self.logger = logger
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

    /// Runs `body` with the deltas (JSON text) of one showtime, from now on, in order.
    public func withDeltas<Result: Sendable>(
        showtimeID: Int,
        _ body: (AsyncStream<String>) async throws -> Result
    ) async rethrows -> Result {
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingOldest(bufferLimit))
        let id = nextID.add(1, ordering: .relaxed).newValue
        subscribers.withLock { $0[showtimeID, default: [:]][id] = Subscriber(continuation: continuation) }
        defer {
            subscribers.withLock { all in
                all[showtimeID]?[id] = nil
                if all[showtimeID]?.isEmpty == true { all[showtimeID] = nil }
            }
            continuation.finish()
        }
        return try await body(stream)
    }

    public func run() async throws {
        var backoff: Duration = .milliseconds(50)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await redis.withSubscription(patterns: [Self.pattern]) { messages in
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
        dropEveryone()
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
        if let version = Self.version(ofDelta: text) { noteVersion(version, showtimeID: showtimeID) }
        let slow: [Int] = subscribers.withLock { all in
            guard let watchers = all[showtimeID] else { return [] }
            var slow: [Int] = []
            for (id, subscriber) in watchers {
                if case .dropped = subscriber.continuation.yield(text) { slow.append(id) }
            }
            for id in slow {
                watchers[id]?.continuation.finish()
                all[showtimeID]?[id] = nil
            }
            return slow
        }
        if !slow.isEmpty { logger.info("dropped slow live clients", metadata: ["count": "\(slow.count)"]) }
    }

    private func dropEveryone() {
        let all = subscribers.withLock { all in
            defer { all = [:] }
            return all
        }
        for watchers in all.values { for subscriber in watchers.values { subscriber.continuation.finish() } }
    }
}
