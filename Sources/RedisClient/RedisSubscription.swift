public import NIOCore
import NIOPosix

/// A message received on a subscribed channel.
public struct RedisPubSubMessage: Sendable, Hashable {
    public var channel: String
    /// The pattern that matched, for `PSUBSCRIBE` subscriptions.
    public var pattern: String?
    public var payload: ByteBuffer

    public var text: String { String(buffer: payload) }
}

/// Messages of one subscription, in the order Redis published them. The sequence ends with an
/// error when the connection drops or the reader falls too far behind; subscribe again then.
public struct RedisSubscription: AsyncSequence, Sendable {
    public typealias Element = RedisPubSubMessage
    let stream: AsyncThrowingStream<RedisPubSubMessage, any Error>

    public func makeAsyncIterator() -> AsyncThrowingStream<RedisPubSubMessage, any Error>.AsyncIterator {
        stream.makeAsyncIterator()
    }
}

/// Turns a connection in subscribed mode into a stream of messages. Confirmations of
/// `SUBSCRIBE`/`PSUBSCRIBE` complete `subscribed` once all of them have arrived.
final class RedisPubSubHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let decoder = RESPDecoder()
    private let continuation: AsyncThrowingStream<RedisPubSubMessage, any Error>.Continuation
    private var confirmationsOutstanding: Int
    private let subscribed: EventLoopPromise<Void>

    init(
        continuation: AsyncThrowingStream<RedisPubSubMessage, any Error>.Continuation,
        expectedConfirmations: Int,
        subscribed: EventLoopPromise<Void>
    ) {
        self.continuation = continuation
        self.confirmationsOutstanding = expectedConfirmations
        self.subscribed = subscribed
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        decoder.feed(unwrapInboundIn(data))
        do {
            while let reply = try decoder.next() { try handle(reply) }
        } catch {
            finish(throwing: error, context: context)
        }
    }

    private func handle(_ reply: RedisReply) throws {
        if case .status = reply { return }  // AUTH's +OK
        guard let parts = reply.array, let kind = parts.first?.string else {
            if case .error(let message) = reply { throw RedisError(.server, message) }
            throw RedisError(.unexpectedReply, "unexpected reply in subscribed mode: \(reply)")
        }
        let message: RedisPubSubMessage
        switch (kind, parts.count) {
        case ("message", 3):
            guard case .bulkString(let payload) = parts[2] else { return }
            message = RedisPubSubMessage(channel: parts[1].string ?? "", pattern: nil, payload: payload)
        case ("pmessage", 4):
            guard case .bulkString(let payload) = parts[3] else { return }
            message = RedisPubSubMessage(channel: parts[2].string ?? "", pattern: parts[1].string, payload: payload)
        case ("subscribe", _), ("psubscribe", _):
            confirmationsOutstanding -= 1
            if confirmationsOutstanding == 0 { subscribed.succeed() }
            return
        default:
            return
        }
        if case .dropped = continuation.yield(message) {
            throw RedisError(.subscriptionOverflow, "the subscriber fell behind; subscribe again and resynchronise")
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let error = RedisError(.connectionClosed, "the Redis subscription connection closed")
        subscribed.fail(error)
        continuation.finish(throwing: error)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(throwing: error, context: context)
    }

    private func finish(throwing error: any Error, context: ChannelHandlerContext) {
        subscribed.fail(error)
        continuation.finish(throwing: error)
        context.close(promise: nil)
    }
}

extension RedisClient {
    /// Subscribes on a connection of its own, runs `body` with the messages, and unsubscribes
    /// (closes that connection) when `body` returns or throws.
    public func withSubscription<Result: Sendable>(
        channels: [String] = [],
        patterns: [String] = [],
        bufferLimit: Int = 10_000,
        _ body: (RedisSubscription) async throws -> Result
    ) async throws -> Result {
        precondition(!channels.isEmpty || !patterns.isEmpty, "subscribe to at least one channel or pattern")
        let configuration = try await subscriptionConfiguration()
        let (stream, continuation) = AsyncThrowingStream<RedisPubSubMessage, any Error>.makeStream(
            bufferingPolicy: .bufferingOldest(bufferLimit)
        )
        let eventLoop = eventLoopGroup.next()
        let subscribed = eventLoop.makePromise(of: Void.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(TimeAmount(configuration.connectTimeout))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RedisPubSubHandler(
                            continuation: continuation,
                            expectedConfirmations: channels.count + patterns.count,
                            subscribed: subscribed
                        ))
                    }
                }
                .connect(to: configuration).get()
        } catch {
            let failure = RedisError(.unavailable, "cannot connect to Redis at \(configuration.address): \(error)")
            // No handler will ever complete these: end them here.
            subscribed.fail(failure)
            continuation.finish(throwing: failure)
            throw failure
        }
        do {
            var outbound = channel.allocator.buffer(capacity: 256)
            if let password = configuration.password {
                // AUTH's "+OK" is not a subscription reply; send it before entering subscribed mode.
                RESPEncoder.encode(["AUTH", password], into: &outbound)
            }
            if !channels.isEmpty { RESPEncoder.encode(["SUBSCRIBE"] + channels, into: &outbound) }
            if !patterns.isEmpty { RESPEncoder.encode(["PSUBSCRIBE"] + patterns, into: &outbound) }
            try await channel.writeAndFlush(outbound).get()
            try await subscribed.futureResult.timeout(after: configuration.commandTimeout, on: eventLoop)
            let result = try await body(RedisSubscription(stream: stream))
            try? await channel.close().get()
            return result
        } catch {
            try? await channel.close().get()
            throw error
        }
    }
}

extension EventLoopFuture where Value: Sendable {
    func timeout(after duration: Duration, on eventLoop: any EventLoop) async throws -> Value {
        let promise = eventLoop.makePromise(of: Value.self)
        let timer = eventLoop.scheduleTask(in: TimeAmount(duration)) {
            promise.fail(RedisError(.timeout, "Redis did not confirm the subscription in time"))
        }
        cascade(to: promise)
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return try await promise.futureResult.get()
    }
}
