public import NIOCore
import NIOPosix
import Synchronization

/// One TCP connection to Redis that pipelines commands.
public final class RedisConnection: Sendable {
    let channel: any Channel
    private let commandTimeout: TimeAmount
    /// Commands sent from other threads wait here for the event loop, which writes all that
    /// are waiting and flushes once: under load many commands share one system call rather
    /// than paying one each (profiled: socket writes were the event loops' largest cost).
    private let outbox = Mutex(Outbox())

    private struct Outbox {
        var requests: [RedisRequest] = []
        var drainScheduled = false
    }

    private init(channel: any Channel, commandTimeout: TimeAmount) {
        self.channel = channel
        self.commandTimeout = commandTimeout
    }

    /// Opens a connection, authenticates and selects the database.
    static func connect(
        configuration: RedisConfiguration,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<RedisConnection> {
        ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RedisChannelHandler())
                }
            }
            .connect(to: configuration)
            .flatMap { channel in
                let connection = RedisConnection(
                    channel: channel,
                    commandTimeout: TimeAmount(configuration.commandTimeout)
                )
                return connection.handshake(configuration).map { connection }
                    .flatMapErrorThrowing { error in
                        channel.close(promise: nil)
                        throw error
                    }
            }
    }

    private func handshake(_ configuration: RedisConfiguration) -> EventLoopFuture<Void> {
        var commands: [[String]] = []
        if let password = configuration.password { commands.append(["AUTH", password]) }
        if configuration.database != 0 { commands.append(["SELECT", String(configuration.database)]) }
        let replies = commands.map { send($0) }
        return EventLoopFuture.whenAllSucceed(replies, on: channel.eventLoop).flatMapThrowing { replies in
            if let failure = replies.first(where: { if case .error = $0 { true } else { false } }) {
                throw RedisError(.unavailable, "Redis refused the connection setup: \(failure)")
            }
        }
    }

    /// Writes a command; the future completes with its reply (error replies included).
    func send(_ arguments: [String]) -> EventLoopFuture<RedisReply> {
        var buffer = channel.allocator.buffer(capacity: 64)
        RESPEncoder.encode(arguments, into: &buffer)
        let promise = channel.eventLoop.makePromise(of: RedisReply.self)
        let request = RedisRequest(encoded: buffer, promise: promise, deadline: .now() + commandTimeout)
        let mustSchedule = outbox.withLock { outbox in
            outbox.requests.append(request)
            defer { outbox.drainScheduled = true }
            return !outbox.drainScheduled
        }
        if mustSchedule { channel.eventLoop.execute { self.drainOutbox() } }
        return promise.futureResult
    }

    /// On the event loop: writes every waiting command in order, then flushes once.
    private func drainOutbox() {
        let requests = outbox.withLock { outbox in
            defer {
                outbox.requests.removeAll(keepingCapacity: true)
                outbox.drainScheduled = false
            }
            return outbox.requests
        }
        for request in requests {
            channel.write(request).whenFailure { error in
                var failure = RedisError(.connectionClosed, "could not write to Redis: \(error)")
                failure.commandWasNotSent = true
                request.promise.fail(failure)
            }
        }
        channel.flush()
    }

    public var isActive: Bool { channel.isActive }

    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    public func close() -> EventLoopFuture<Void> {
        channel.close().recover { _ in }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

extension ClientBootstrap {
    /// Connects to Redis. An IP address is used as it is: resolving even a literal goes
    /// through getaddrinfo on a shared queue, which a busy process can delay past the
    /// connect timeout.
    func connect(to configuration: RedisConfiguration) -> EventLoopFuture<any Channel> {
        if let address = try? SocketAddress(ipAddress: configuration.host, port: configuration.port) {
            return connect(to: address)
        }
        return connect(host: configuration.host, port: configuration.port)
    }
}
