public import Logging
public import NIOCore
public import NIOPosix
public import ServiceLifecycle
import Metrics
import Synchronization

/// A Redis client over hiredis' RESP codec and SwiftNIO sockets: a small pool of pipelined
/// connections that reconnect by themselves, to one server or to each primary of a Redis
/// Cluster. Run it in a `ServiceGroup` so it closes on shutdown.
public final class RedisClient: Service, Sendable {
    public let configuration: RedisConfiguration
    let eventLoopGroup: any EventLoopGroup
    /// One server's pool, or nil in cluster mode.
    private let server: NodePool?
    private let cluster: RedisCluster?
    let logger: Logger

    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        if configuration.isCluster {
            server = nil
            cluster = RedisCluster(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
        } else {
            server = NodePool(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
            cluster = nil
        }
    }

    /// Sends a command and decodes its reply; an error reply throws `RedisError(.server, …)`.
    public func send<Response>(_ command: RedisCommand<Response>) async throws -> Response {
        let reply = try await sendRaw(command.arguments)
        return try command.decodeReply(reply)
    }

    /// Sends a command to the node that serves `key`'s slot (in a cluster; one server takes
    /// everything): for commands without a key that belong with one, like `SCRIPT LOAD` before
    /// the script runs on that key, or `TIME` of the clock that timed that key.
    public func send<Response>(_ command: RedisCommand<Response>, routedBy key: String) async throws -> Response {
        let reply = try await sendRaw(command.arguments, routingKey: key)
        return try command.decodeReply(reply)
    }

    /// Sends several commands back to back; replies come in the same order. On one server they
    /// share a connection; in a cluster each goes to its slot's node, pipelined per node (the
    /// order of execution holds among commands of one node).
    public func pipeline(_ commands: [[String]]) async throws -> [RedisReply] {
        if let cluster { return try await cluster.pipeline(commands) }
        let connection = try await server!.connection()
        let futures = commands.map { connection.send($0) }
        var replies: [RedisReply] = []
        replies.reserveCapacity(futures.count)
        for future in futures { replies.append(try await future.get()) }
        return replies
    }

    func sendRaw(_ arguments: [String], routingKey: String? = nil) async throws -> RedisReply {
        let reply: RedisReply
        if let cluster {
            reply = try await cluster.send(arguments, routingKey: routingKey)
        } else {
            do {
                reply = try await server!.connection().send(arguments).get()
            } catch let error as RedisError where error.commandWasNotSent {
                // The connection closed under us before the write; another connection may take it.
                reply = try await server!.connection().send(arguments).get()
            }
        }
        if case .error(let message) = reply { throw RedisError(.server, message) }
        return reply
    }

    /// In a cluster, every primary (to load scripts on each); one server otherwise.
    func nodes() async throws -> [ClusterEndpoint?] {
        guard let cluster else { return [nil] }
        return try await cluster.primaries()
    }

    func send(_ arguments: [String], toNode node: ClusterEndpoint?) async throws -> RedisReply {
        let reply: RedisReply
        if let cluster, let node {
            reply = try await cluster.sendToNode(node, arguments)
        } else {
            reply = try await sendRaw(arguments)
        }
        if case .error(let message) = reply { throw RedisError(.server, message) }
        return reply
    }

    /// Where the node that serves `key` is (the one server, or its slot's primary).
    func nodeConfiguration(forKey key: String) async throws -> RedisConfiguration {
        guard let cluster else { return configuration }
        let node = try await cluster.primary(forKey: key)
        var nodeConfiguration = configuration
        nodeConfiguration.host = node.host
        nodeConfiguration.port = node.port
        nodeConfiguration.clusterSeeds = []
        return nodeConfiguration
    }

    /// Reads a cluster's slot map again (nothing on one server).
    func refreshClusterMap() async {
        try? await cluster?.refreshTopology(force: true)
    }

    /// Where a subscription connects: the server, or any node of the cluster (a `PUBLISH`
    /// reaches every node of a cluster).
    func subscriptionConfiguration() async throws -> RedisConfiguration {
        guard let cluster else { return configuration }
        let node = try await cluster.anyPrimary()
        var nodeConfiguration = configuration
        nodeConfiguration.host = node.host
        nodeConfiguration.port = node.port
        nodeConfiguration.clusterSeeds = []
        return nodeConfiguration
    }

    /// `PING`, for readiness checks; in a cluster, also fails while some slot has no primary.
    public func ping() async throws {
        _ = try await send(.ping())
        if let cluster, cluster.uncoveredSlots > 0 {
            try? await cluster.refreshTopology(force: false)
            let uncovered = cluster.uncoveredSlots
            if uncovered > 0 {
                throw RedisError(.unavailable, "\(uncovered) slots of the Redis Cluster have no primary")
            }
        }
    }

    public var connectedCount: Int {
        cluster?.connectedCount ?? server!.connectedCount
    }

    /// Waits for graceful shutdown (in a cluster, reading the map every
    /// `clusterRefreshInterval` meanwhile), then closes every connection.
    public func run() async throws {
        if let cluster {
            let interval = configuration.clusterRefreshInterval
            try? await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    try await Task.sleep(for: interval)
                    try? await cluster.refreshTopology(force: true)
                }
            }
        } else {
            try? await gracefulShutdown()
        }
        await close()
    }

    public func close() async {
        await server?.shutdown()
        await cluster?.close()
    }
}

/// One slot of the pool: a connection made lazily and remade after it closes.
final class ConnectionSlot: Sendable {
    private struct Locked {
        var machine: ConnectionStateMachine<RedisConnection>
        /// The connect attempt in progress, shared by every caller that waits for it.
        var pendingConnect: EventLoopPromise<RedisConnection>?
    }

    private let configuration: RedisConfiguration
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let locked: Mutex<Locked>
    /// Open connections across the pool, for /metrics.
    private static let connections = Meter(label: "redis_pool_connections")

    init(configuration: RedisConfiguration, eventLoop: any EventLoop, logger: Logger) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        let machine = ConnectionStateMachine<RedisConnection>(
            minimumBackoff: TimeAmount(configuration.minimumBackoff),
            maximumBackoff: TimeAmount(configuration.maximumBackoff)
        )
        self.locked = Mutex(Locked(machine: machine, pendingConnect: nil))
    }

    var isConnected: Bool {
        locked.withLock { if case .connected = $0.machine.state { true } else { false } }
    }

    func connection() async throws -> RedisConnection {
        let (action, pending) = locked.withLock { locked in
            let action = locked.machine.acquire(now: .now())
            if case .startConnecting = action { locked.pendingConnect = eventLoop.makePromise() }
            return (action, locked.pendingConnect)
        }
        switch action {
        case .use(let connection):
            if connection.isActive { return connection }
            // Closed a moment ago; its close callback has not run yet.
            locked.withLock { $0.machine.connectionClosed(connection) }
            return try await self.connection()
        case .startConnecting:
            startConnecting(completing: pending!)
            return try await pending!.futureResult.get()
        case .waitForConnect:
            return try await pending!.futureResult.get()
        case .failUnavailable(let retryIn):
            throw RedisError(
                .unavailable,
                "Redis at \(configuration.address) is unreachable; retrying in \(retryIn.nanoseconds / 1_000_000) ms"
            )
        case .failShutdown:
            throw RedisError(.shutdown, "the Redis client is shut down")
        }
    }

    private func startConnecting(completing promise: EventLoopPromise<RedisConnection>) {
        let address = configuration.address
        let logger = logger
        RedisConnection.connect(configuration: configuration, on: eventLoop).whenComplete { [self] result in
            // The state changes before waiters resume, so none of them sees "connecting" again.
            switch result {
            case .success(let connection):
                let kept = locked.withLock { locked in
                    locked.pendingConnect = nil
                    return locked.machine.connectSucceeded(connection)
                }
                guard kept else {
                    connection.channel.close(promise: nil)
                    promise.fail(RedisError(.shutdown, "the Redis client is shut down"))
                    return
                }
                logger.debug("connected to Redis", metadata: ["redis.address": "\(address)"])
                Self.connections.increment()
                connection.closeFuture.whenComplete { [self] _ in
                    Self.connections.decrement()
                    locked.withLock { $0.machine.connectionClosed(connection) }
                    logger.info("connection to Redis closed", metadata: ["redis.address": "\(address)"])
                }
                promise.succeed(connection)
            case .failure(let error):
                locked.withLock { locked in
                    locked.pendingConnect = nil
                    locked.machine.connectFailed(now: .now())
                }
                logger.warning("Redis connect failed", metadata: ["redis.address": "\(address)", "error": "\(error)"])
                let redisError = (error as? RedisError)
                    ?? RedisError(.unavailable, "cannot connect to Redis at \(address): \(error)")
                promise.fail(redisError)
            }
        }
    }

    func shutdown() async {
        let connection = locked.withLock { $0.machine.shutdown() }
        if let connection { try? await connection.close().get() }
    }
}
