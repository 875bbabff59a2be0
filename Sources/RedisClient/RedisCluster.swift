import Logging
import NIOCore
import Synchronization

/// The cluster side of `RedisClient`: the slot map, a pool of pipelined connections per
/// primary, and the way of each command through redirects and failovers.
final class RedisCluster: Sendable {
    private struct Locked {
        var topology = ClusterTopology()
        var pools: [ClusterEndpoint: NodePool] = [:]
        /// The map read in progress, shared by every caller that needs a fresh one.
        var refresh: Task<Void, any Error>?
        var lastRefresh: ContinuousClock.Instant?
        var isShutdown = false
    }

    let configuration: RedisConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let locked = Mutex(Locked())

    init(configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// Sends one command to the primary of its key's slot (`routingKey`, else the command's
    /// first key; keyless commands go to any primary), following `MOVED` and `ASK`.
    func send(_ arguments: [String], routingKey: String?) async throws -> RedisReply {
        let slot = (routingKey ?? CommandKey.routingKey(of: arguments)).map(HashSlot.of)
        var route = ClusterCommandRoute(maximumRedirects: configuration.clusterMaximumRedirects)
        var target = try await firstTarget(slot: slot)
        var asking = false
        var retries = 0
        while true {
            let reply: RedisReply
            do {
                let connection = try await pool(for: target).connection()
                if asking {
                    let askingReply = connection.send(["ASKING"])
                    let commandReply = connection.send(arguments)
                    _ = try await askingReply.get()
                    reply = try await commandReply.get()
                } else {
                    reply = try await connection.send(arguments).get()
                }
            } catch let error as RedisError {
                switch route.failed(error) {
                case .refreshAndRetry:
                    retries += 1
                    try await pause(beforeRetry: retries)
                    try? await refreshTopology(force: true)
                    target = try await firstTarget(slot: slot)
                    asking = false
                    continue
                default:
                    throw error
                }
            }
            switch route.received(reply, from: target) {
            case .reply(let reply):
                return reply
            case .send(let endpoint, let isAsk):
                if !isAsk, let slot {
                    locked.withLock { $0.topology.apply(ClusterRedirect(kind: .moved, slot: slot, endpoint: endpoint)) }
                    // One slot moved often means more did (a reshard, a failover): read the map soon.
                    refreshSoon()
                }
                target = endpoint
                asking = isAsk
            case .refreshAndRetry:
                retries += 1
                try await pause(beforeRetry: retries)
                try? await refreshTopology(force: true)
                target = try await firstTarget(slot: slot)
                asking = false
            case .fail(let error):
                throw error
            }
        }
    }

    /// Sends commands to their slots' primaries, pipelined per node, so that commands on one
    /// node run in the order given; a redirected command is sent again by itself.
    func pipeline(_ commands: [[String]]) async throws -> [RedisReply] {
        try await ensureTopology()
        var groups: [ClusterEndpoint: [Int]] = [:]
        for (index, command) in commands.enumerated() {
            let slot = CommandKey.routingKey(of: command).map(HashSlot.of)
            groups[try await firstTarget(slot: slot), default: []].append(index)
        }
        var replies = [RedisReply](repeating: .null, count: commands.count)
        try await withThrowingTaskGroup(of: [(Int, RedisReply)].self) { group in
            for (endpoint, indices) in groups {
                group.addTask {
                    let sent: [RedisReply]
                    do {
                        let connection = try await self.pool(for: endpoint).connection()
                        let futures = indices.map { connection.send(commands[$0]) }
                        var received: [RedisReply] = []
                        for future in futures { received.append(try await future.get()) }
                        sent = received
                    } catch let error as RedisError where error.commandWasNotSent || error.code == .unavailable {
                        // The node is gone before anything ran: each command finds its own way.
                        var replies: [(Int, RedisReply)] = []
                        for index in indices { replies.append((index, try await self.send(commands[index], routingKey: nil))) }
                        return replies
                    }
                    var replies: [(Int, RedisReply)] = []
                    for (index, reply) in zip(indices, sent) {
                        var route = ClusterCommandRoute()
                        if case .reply = route.received(reply, from: endpoint) {
                            replies.append((index, reply))
                        } else {
                            replies.append((index, try await self.send(commands[index], routingKey: nil)))
                        }
                    }
                    return replies
                }
            }
            for try await part in group {
                for (index, reply) in part { replies[index] = reply }
            }
        }
        return replies
    }

    /// Every primary, for commands each of them must run (`SCRIPT LOAD`).
    func primaries() async throws -> [ClusterEndpoint] {
        try await ensureTopology()
        return locked.withLock { $0.topology.primaries }
    }

    func sendToNode(_ endpoint: ClusterEndpoint, _ arguments: [String]) async throws -> RedisReply {
        try await pool(for: endpoint).connection().send(arguments).get()
    }

    var uncoveredSlots: Int { locked.withLock { $0.topology.uncoveredSlots } }

    var connectedCount: Int {
        locked.withLock { $0.pools.values.reduce(0) { $0 + $1.connectedCount } }
    }

    /// The primary that serves `key`'s slot.
    func primary(forKey key: String) async throws -> ClusterEndpoint {
        try await firstTarget(slot: HashSlot.of(key))
    }

    /// Any node that serves slots, for keyless commands and subscriptions.
    func anyPrimary() async throws -> ClusterEndpoint {
        try await firstTarget(slot: nil)
    }

    /// Reads `CLUSTER SHARDS` again, at most every `clusterRefreshInterval` unless forced;
    /// concurrent callers share one read.
    func refreshTopology(force: Bool) async throws {
        let task: Task<Void, any Error>? = locked.withLock { locked in
            if let running = locked.refresh { return running }
            if locked.isShutdown { return nil }
            if !force, let last = locked.lastRefresh,
               ContinuousClock.now - last < configuration.clusterMinimumRefreshInterval {
                return nil
            }
            let task = Task { try await self.readTopology() }
            locked.refresh = task
            return task
        }
        try await task?.value
    }

    func close() async {
        let pools = locked.withLock { locked in
            locked.isShutdown = true
            locked.refresh?.cancel()
            return Array(locked.pools.values)
        }
        for pool in pools { await pool.shutdown() }
    }

    private func refreshSoon() {
        Task { try? await self.refreshTopology(force: false) }
    }

    private func ensureTopology() async throws {
        if locked.withLock({ $0.lastRefresh == nil }) { try await refreshTopology(force: true) }
    }

    private func firstTarget(slot: Int?) async throws -> ClusterEndpoint {
        try await ensureTopology()
        var target = lookUp(slot)
        if target == nil {
            // A shard lost its primary: the map changes once a replica takes over.
            try? await refreshTopology(force: false)
            target = lookUp(slot)
        }
        guard let target else {
            throw RedisError(.unavailable, "no Redis Cluster node serves slot \(slot.map(String.init) ?? "any") at the moment")
        }
        return target
    }

    private func lookUp(_ slot: Int?) -> ClusterEndpoint? {
        locked.withLock { locked in
            guard let slot else { return locked.topology.primaries.first }
            return locked.topology.primary(forSlot: slot)
        }
    }

    private func pause(beforeRetry retries: Int) async throws {
        let milliseconds = min(400, 25 << min(retries, 5))
        try await Task.sleep(for: .milliseconds(milliseconds))
    }

    private func readTopology() async throws {
        defer { locked.withLock { $0.refresh = nil } }
        let known = locked.withLock { $0.topology.primaries }
        var lastError: (any Error)?
        // The primaries the map knows first (the seeds may be gone), then the seeds.
        for endpoint in Self.unique(known + configuration.clusterSeeds) {
            do {
                let reply = try await pool(for: endpoint).connection().send(["CLUSTER", "SHARDS"]).get()
                if case .error(let message) = reply { throw RedisError(.server, message) }
                let topology = try ClusterTopology(shards: reply)
                let changed = locked.withLock { locked in
                    defer {
                        locked.topology = topology
                        locked.lastRefresh = .now
                    }
                    return locked.topology != topology
                }
                if changed {
                    logger.info("Redis Cluster map read", metadata: [
                        "redis.primaries": "\(topology.primaries.map(\.description).joined(separator: ","))",
                        "redis.uncovered_slots": "\(topology.uncoveredSlots)",
                    ])
                }
                return
            } catch {
                lastError = error
            }
        }
        logger.warning("no Redis Cluster node answered CLUSTER SHARDS", metadata: ["error": "\(lastError.map { "\($0)" } ?? "none")"])
        throw lastError ?? RedisError(.unavailable, "no Redis Cluster node is known")
    }

    private func pool(for endpoint: ClusterEndpoint) throws(RedisError) -> NodePool {
        try locked.withLock { locked throws(RedisError) in
            if locked.isShutdown { throw RedisError(.shutdown, "the Redis client is shut down") }
            if let pool = locked.pools[endpoint] { return pool }
            var nodeConfiguration = configuration
            nodeConfiguration.host = endpoint.host
            nodeConfiguration.port = endpoint.port
            nodeConfiguration.database = 0
            nodeConfiguration.clusterSeeds = []
            let pool = NodePool(configuration: nodeConfiguration, eventLoopGroup: eventLoopGroup, logger: logger)
            locked.pools[endpoint] = pool
            return pool
        }
    }

    private static func unique(_ endpoints: [ClusterEndpoint]) -> [ClusterEndpoint] {
        var seen = Set<ClusterEndpoint>()
        return endpoints.filter { seen.insert($0).inserted }
    }
}

/// The pooled, pipelined connections to one Redis server.
final class NodePool: Sendable {
    private let slots: [ConnectionSlot]
    private let nextSlot = Atomic<Int>(0)

    init(configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        slots = (0..<max(1, configuration.poolSize)).map { _ in
            ConnectionSlot(configuration: configuration, eventLoop: eventLoopGroup.next(), logger: logger)
        }
    }

    func connection() async throws -> RedisConnection {
        let index = nextSlot.add(1, ordering: .relaxed).newValue
        return try await slots[index % slots.count].connection()
    }

    var connectedCount: Int { slots.reduce(0) { $0 + ($1.isConnected ? 1 : 0) } }

    func shutdown() async {
        for slot in slots { await slot.shutdown() }
    }
}
