import NIOCore
import NIOPosix
import NIOConcurrencyHelpers
import Synchronization

/// Shard channels (`SSUBSCRIBE`, Redis 7): each channel lives in its name's slot, on the node
/// that serves the slot, and a message published there (`SPUBLISH`) reaches only that node's
/// subscribers — unlike a classic `PUBLISH`, which a cluster carries to every node. Channels are
/// subscribed and left one by one, on one connection per node.
///
/// When a node's connection is lost, or the node stops serving a channel's slot (a migration,
/// a failover: Redis then unsubscribes it), the channel is reported `lost`: its messages may
/// have been missed, so whoever relied on it resynchronises, and subscribes again if it still
/// wants it.
public final class RedisShardSubscriber: Sendable {
    public enum Event: Sendable {
        case message(RedisPubSubMessage)
        case lost(channels: [String])
    }

    public let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let client: RedisClient
    private let links = Mutex<[String: ShardLink]>([:])

    public init(client: RedisClient, bufferLimit: Int = 10_000) {
        self.client = client
        (events, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingOldest(bufferLimit))
    }

    /// Subscribes to `channel` on the node that serves it; returns once Redis confirmed it.
    public func subscribe(_ channel: String) async throws {
        var attempts = 0
        while true {
            attempts += 1
            let configuration = try await client.nodeConfiguration(forKey: channel)
            let link = try await link(for: configuration)
            do {
                try await link.subscribe(channel)
                return
            } catch let error as RedisError where attempts < 4 && (error.code == .server || error.code == .connectionClosed) {
                // MOVED (the map is stale) or the node went away: read the map and try again.
                await client.refreshClusterMap()
            }
        }
    }

    /// Leaves `channel`; its messages stop.
    public func unsubscribe(_ channel: String) {
        let all = links.withLock { Array($0.values) }
        for link in all where link.isSubscribed(to: channel) { link.unsubscribe(channel) }
    }

    public func close() async {
        let all = links.withLock { links in
            defer { links = [:] }
            return Array(links.values)
        }
        for link in all { await link.close() }
        continuation.finish()
    }

    private func link(for configuration: RedisConfiguration) async throws -> ShardLink {
        let address = configuration.address
        if let existing = links.withLock({ $0[address] }), existing.isActive { return existing }
        let link = try await ShardLink.connect(configuration: configuration, eventLoop: client.eventLoopGroup.next()) {
            [weak self, address] event in
            guard let self else { return }
            if case .lost = event, let link = self.links.withLock({ $0[address] }), !link.isActive {
                self.links.withLock { _ = $0.removeValue(forKey: address) }
            }
            self.continuation.yield(event)
        }
        let kept = links.withLock { links -> ShardLink in
            if let existing = links[address], existing.isActive { return existing }
            links[address] = link
            return link
        }
        if kept !== link { await link.close() }
        return kept
    }
}

/// One connection in subscribed mode to one node.
final class ShardLink: Sendable {
    private struct State {
        var channels: Set<String> = []
        /// SSUBSCRIBE requests in the order sent: replies (confirmations or errors) come in order.
        var pending: [(channel: String, promise: EventLoopPromise<Void>)] = []
        var leaving: Set<String> = []
    }

    private let channel: any Channel
    private let state = Mutex(State())
    private let onEvent: @Sendable (RedisShardSubscriber.Event) -> Void

    private init(channel: any Channel, onEvent: @escaping @Sendable (RedisShardSubscriber.Event) -> Void) {
        self.channel = channel
        self.onEvent = onEvent
    }

    static func connect(
        configuration: RedisConfiguration, eventLoop: any EventLoop,
        onEvent: @escaping @Sendable (RedisShardSubscriber.Event) -> Void
    ) async throws -> ShardLink {
        let box = NIOLockedValueBox<ShardLink?>(nil)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(TimeAmount(configuration.connectTimeout))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ShardLinkHandler { reply in
                            box.withLockedValue { $0 }?.handle(reply)
                        } closed: {
                            box.withLockedValue { $0 }?.closed()
                        })
                    }
                }
                .connect(to: configuration).get()
        } catch {
            throw RedisError(.unavailable, "cannot connect to Redis at \(configuration.address): \(error)")
        }
        let link = ShardLink(channel: channel, onEvent: onEvent)
        box.withLockedValue { $0 = link }
        if let password = configuration.password {
            // Answered with +OK before any subscription reply; the handler skips status replies.
            var buffer = channel.allocator.buffer(capacity: 64)
            RESPEncoder.encode(["AUTH", password], into: &buffer)
            try await channel.writeAndFlush(buffer).get()
        }
        return link
    }

    var isActive: Bool { channel.isActive }

    func isSubscribed(to name: String) -> Bool { state.withLock { $0.channels.contains(name) } }

    func subscribe(_ name: String) async throws {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let already = state.withLock { state -> Bool in
            if state.channels.contains(name) { return true }
            state.pending.append((name, promise))
            return false
        }
        if already {
            promise.succeed()
            return
        }
        var buffer = channel.allocator.buffer(capacity: 64)
        RESPEncoder.encode(["SSUBSCRIBE", name], into: &buffer)
        channel.writeAndFlush(buffer, promise: nil)
        try await promise.futureResult.timeout(after: .seconds(2), on: channel.eventLoop)
    }

    func unsubscribe(_ name: String) {
        let send = state.withLock { state -> Bool in
            guard state.channels.remove(name) != nil else { return false }
            state.leaving.insert(name)
            return true
        }
        guard send else { return }
        var buffer = channel.allocator.buffer(capacity: 64)
        RESPEncoder.encode(["SUNSUBSCRIBE", name], into: &buffer)
        channel.writeAndFlush(buffer, promise: nil)
    }

    func close() async {
        try? await channel.close().get()
    }

    fileprivate func handle(_ reply: RedisReply) {
        if case .error(let message) = reply {
            let waiting = state.withLock { $0.pending.isEmpty ? nil : $0.pending.removeFirst() }
            waiting?.promise.fail(RedisError(.server, message))
            return
        }
        guard let parts = reply.array, let kind = parts.first?.string, parts.count >= 2, let name = parts[1].string else { return }
        switch kind {
        case "smessage":
            guard parts.count == 3, case .bulkString(let payload) = parts[2] else { return }
            onEvent(.message(RedisPubSubMessage(channel: name, pattern: nil, payload: payload)))
        case "ssubscribe":
            let waiting = state.withLock { state -> EventLoopPromise<Void>? in
                state.channels.insert(name)
                guard let index = state.pending.firstIndex(where: { $0.channel == name }) else { return nil }
                return state.pending.remove(at: index).promise
            }
            waiting?.succeed()
        case "sunsubscribe":
            // Asked for (leaving), or Redis dropped it: the slot moved away from this node.
            let lost = state.withLock { state -> Bool in
                if state.leaving.remove(name) != nil { return false }
                return state.channels.remove(name) != nil
            }
            if lost { onEvent(.lost(channels: [name])) }
        default:
            return
        }
    }

    fileprivate func closed() {
        let (channels, pending) = state.withLock { state in
            defer {
                state.channels = []
                state.pending = []
            }
            return (Array(state.channels), state.pending)
        }
        for waiting in pending {
            waiting.promise.fail(RedisError(.connectionClosed, "the shard subscription connection closed"))
        }
        onEvent(.lost(channels: channels + pending.map(\.channel)))
    }
}

/// Decodes replies on a subscribed connection and hands them on.
private final class ShardLinkHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let decoder = RESPDecoder()
    private let onReply: (RedisReply) -> Void
    private let onClose: () -> Void

    init(_ onReply: @escaping (RedisReply) -> Void, closed onClose: @escaping () -> Void) {
        self.onReply = onReply
        self.onClose = onClose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        decoder.feed(unwrapInboundIn(data))
        do {
            while let reply = try decoder.next() {
                if case .status = reply { continue }  // AUTH's +OK
                onReply(reply)
            }
        } catch {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        onClose()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
