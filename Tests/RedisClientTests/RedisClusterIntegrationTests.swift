import Foundation
import Logging
import NIOCore
import RedisClient
import Testing

/// Against the real 6-node Redis Cluster scripts/test starts (3 primaries, 3 replicas). Tests
/// that move slots or fail nodes over leave the cluster healthy (every slot served) but with a
/// different map: nothing here assumes the map it started from.
@Suite(.serialized) struct RedisClusterIntegrationTests {
    @Test func eachKeyGoesToThePrimaryOfItsSlotAndPipelinesComeBackInOrder() async throws {
        try await TestCluster.withClient { (redis: RedisClient) async throws in
            let tag = UUID().uuidString.prefix(8)
            let keys = (0..<200).map { "test:\(tag):\($0)" }
            for key in keys { #expect(try await redis.send(.set(key, "v-\(key)")) == true) }

            let replies = try await redis.pipeline(keys.map { ["GET", $0] })
            #expect(replies.map(\.string) == keys.map { "v-\($0)" })

            // Each key is stored on exactly the primary that CLUSTER SHARDS names for its slot.
            let shards = try await TestCluster.shards()
            var nodesUsed = Set<Int>()
            for key in keys.prefix(40) {
                let owner = try #require(shards.primary(of: key))
                nodesUsed.insert(owner)
                try await TestCluster.withNode(port: owner) { (node: RedisClient) async throws in
                    #expect(try await node.send(.get(key)) == "v-\(key)")
                }
            }
            #expect(nodesUsed.count == 3)

            // Commands on one key run in the order of the pipeline.
            let counter = "test:\(tag):counter"
            let increments = try await redis.pipeline(Array(repeating: ["INCR", counter], count: 300))
            #expect(increments.map(\.integer) == (1...300).map { $0 })
        }
    }

    @Test func scriptsRunOnTheNodeOfTheirKeysWhereverTheyWereLoaded() async throws {
        try await TestCluster.withClient { (redis: RedisClient) async throws in
            let script = RedisScript(name: "incr-two", source: """
                redis.call('INCR', KEYS[1]); return redis.call('INCR', KEYS[2])
                """)
            try await redis.load([script])
            let tag = UUID().uuidString.prefix(8)
            for index in 0..<30 {
                let reply = try await redis.evaluate(script, keys: ["test:{\(tag)-\(index)}:a", "test:{\(tag)-\(index)}:b"])
                #expect(reply.integer == 1)
            }
            // A node that forgot the script (SCRIPT FLUSH) is given it again.
            for port in try await TestCluster.shards().primaryPorts {
                try await TestCluster.withNode(port: port) { node in _ = try await node.send(RedisCommand(["SCRIPT", "FLUSH"])) }
            }
            let reply = try await redis.evaluate(script, keys: ["test:{\(tag)-0}:a", "test:{\(tag)-0}:b"])
            #expect(reply.integer == 2)
        }
    }

    @Test func aSlotMigratingDuringAPipelineIsFollowedWithASKAndThenMOVED() async throws {
        try await TestCluster.withClient { (redis: RedisClient) async throws in
            let tag = UUID().uuidString.prefix(8)
            let moving = "test:{\(tag)}:moving", staying = "test:{\(tag)}:staying"
            _ = try await redis.send(.set(moving, "m"))
            _ = try await redis.send(.set(staying, "s"))
            let shards = try await TestCluster.shards()
            let slot = HashSlot.of(moving)
            let source = try #require(shards.primary(of: moving))
            let target = try #require(shards.primaryPorts.first { $0 != source })
            let sourceID = try #require(shards.nodeIDs[source]), targetID = try #require(shards.nodeIDs[target])

            // The slot is half-way: `moving` has left the source, `staying` not yet.
            try await TestCluster.withNode(port: target) { (node: RedisClient) async throws in
                _ = try await node.send(RedisCommand(["CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceID]))
            }
            try await TestCluster.withNode(port: source) { (node: RedisClient) async throws in
                _ = try await node.send(RedisCommand(["CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID]))
                _ = try await node.send(RedisCommand(["MIGRATE", "127.0.0.1", String(target), moving, "0", "5000"]))
            }
            let replies = try await redis.pipeline([["GET", moving], ["GET", staying], ["GET", moving]])
            #expect(replies.map(\.string) == ["m", "s", "m"])
            #expect(try await redis.send(.set(moving, "m2")) == true)
            try await TestCluster.withNode(port: target) { (node: RedisClient) async throws in
                #expect(try await node.send(RedisCommand(["ASKING"])).string == "OK")
            }

            // The migration ends: every node is told the slot's new owner.
            try await TestCluster.withNode(port: source) { (node: RedisClient) async throws in
                _ = try await node.send(RedisCommand(["MIGRATE", "127.0.0.1", String(target), staying, "0", "5000"]))
            }
            for port in shards.primaryPorts {
                try await TestCluster.withNode(port: port) { (node: RedisClient) async throws in
                    _ = try await node.send(RedisCommand(["CLUSTER", "SETSLOT", String(slot), "NODE", targetID]))
                }
            }
            #expect(try await redis.pipeline([["GET", moving], ["GET", staying]]).map(\.string) == ["m2", "s"])
            try await TestCluster.withNode(port: target) { (node: RedisClient) async throws in
                #expect(try await node.send(.get(staying)) == "s")
            }
        }
    }

    @Test func aManualFailoverIsFollowedToThePromotedReplica() async throws {
        try await TestCluster.withClient { (redis: RedisClient) async throws in
            let key = "test:{\(UUID().uuidString.prefix(8))}:failover"
            _ = try await redis.send(.set(key, "before"))
            // A replica of a cluster just made is "loading" until its first sync.
            try await TestCluster.waitUntil {
                let shards = try await TestCluster.shards()
                return shards.primary(of: key).flatMap { shards.replicas[$0]?.first } != nil
            }
            let shards = try await TestCluster.shards()
            let primary = try #require(shards.primary(of: key))
            let replica = try #require(shards.replicas[primary]?.first)
            try await TestCluster.withNode(port: primary) { (node: RedisClient) async throws in
                _ = try await node.send(RedisCommand(["WAIT", "1", "2000"]))
            }
            try await TestCluster.withNode(port: replica) { (node: RedisClient) async throws in
                _ = try await node.send(RedisCommand(["CLUSTER", "FAILOVER"]))
            }
            try await TestCluster.waitUntil { try await TestCluster.shards().primary(of: key) == replica }

            // The old primary now answers MOVED; the client follows it and keeps the new map.
            #expect(try await redis.send(.get(key)) == "before")
            #expect(try await redis.send(.set(key, "after")) == true)
            try await TestCluster.withNode(port: replica) { (node: RedisClient) async throws in
                #expect(try await node.send(.get(key)) == "after")
            }
        }
    }

    @Test func aKilledPrimarysSlotsAreServedAgainOnceItsReplicaTakesOver() async throws {
        try await TestCluster.withClient { (redis: RedisClient) async throws in
            let key = "test:{\(UUID().uuidString.prefix(8))}:killed"
            _ = try await redis.send(.set(key, "kept"))
            try await TestCluster.waitUntil {
                let shards = try await TestCluster.shards()
                return shards.primary(of: key).flatMap { shards.replicas[$0]?.first } != nil
            }
            let shards = try await TestCluster.shards()
            let primary = try #require(shards.primary(of: key))
            try await TestCluster.withNode(port: primary) { (node: RedisClient) async throws in
                _ = try await node.send(RedisCommand(["WAIT", "1", "2000"]))
            }
            try await TestCluster.kill(port: primary)
            defer { Task { try? await TestCluster.restart(port: primary) } }

            // Commands fail (never answer wrongly) while the cluster notices; then they succeed.
            let started = ContinuousClock.now
            var value: String?
            while value == nil, ContinuousClock.now - started < .seconds(20) {
                do {
                    value = try await redis.send(.get(key))
                } catch let error as RedisError {
                    #expect([.unavailable, .connectionClosed, .server, .timeout].contains(error.code))
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            #expect(value == "kept")
            #expect(try await TestCluster.shards().primary(of: key) != primary)
            try await TestCluster.restart(port: primary)
        }
    }
}

/// The test cluster scripts/test starts: its URL and the folder of its nodes' configurations.
enum TestCluster {
    static func configuration() throws -> RedisConfiguration {
        guard let url = ProcessInfo.processInfo.environment["BOXOFFICE_TEST_REDIS_CLUSTER_URL"] else {
            throw TestSetupError("BOXOFFICE_TEST_REDIS_CLUSTER_URL is not set: run the tests with scripts/test")
        }
        var configuration = try RedisConfiguration(url: url)
        configuration.commandTimeout = .seconds(10)
        configuration.connectTimeout = .seconds(2)
        configuration.minimumBackoff = .milliseconds(20)
        configuration.maximumBackoff = .milliseconds(200)
        return configuration
    }

    static func withClient<R: Sendable>(_ body: (RedisClient) async throws -> R) async throws -> R {
        try await TestRedis.withClient(try configuration(), body)
    }

    /// A plain (non-cluster) client of one node, to look behind the cluster client's back.
    static func withNode<R: Sendable>(port: Int, _ body: (RedisClient) async throws -> R) async throws -> R {
        var configuration = RedisConfiguration(host: "127.0.0.1", port: port)
        configuration.poolSize = 1
        configuration.commandTimeout = .seconds(10)
        return try await TestRedis.withClient(configuration, body)
    }

    struct Shards {
        /// Slot ranges per primary port.
        var ranges: [Int: [ClosedRange<Int>]] = [:]
        var replicas: [Int: [Int]] = [:]
        var nodeIDs: [Int: String] = [:]
        var primaryPorts: [Int] { ranges.keys.sorted() }

        func primary(of key: String) -> Int? {
            let slot = HashSlot.of(key)
            return ranges.first { $0.value.contains { $0.contains(slot) } }?.key
        }
    }

    /// `CLUSTER SHARDS` as a node the cluster still counts healthy sees it.
    static func shards() async throws -> Shards {
        let seeds = try configuration().clusterSeeds.map(\.port) + Array(7100...7120)
        for port in seeds {
            guard let reply = try? await withNode(port: port, { try await $0.send(RedisCommand(["CLUSTER", "SHARDS"])) }),
                  let list = reply.array else { continue }
            var shards = Shards()
            for shard in list {
                let fields = pairs(shard)
                let nodes = (fields["nodes"]?.array ?? []).map(pairs)
                guard let primary = nodes.first(where: { $0["role"]?.string == "master" && $0["health"]?.string == "online" }),
                      let port = primary["port"]?.integer else { continue }
                let bounds = fields["slots"]?.array?.compactMap(\.integer) ?? []
                shards.ranges[port] = stride(from: 0, to: bounds.count - 1, by: 2).map { bounds[$0]...bounds[$0 + 1] }
                shards.replicas[port] = nodes.filter { $0["role"]?.string == "replica" && $0["health"]?.string == "online" }
                    .compactMap { $0["port"]?.integer }
                for node in nodes {
                    if let nodePort = node["port"]?.integer, let id = node["id"]?.string { shards.nodeIDs[nodePort] = id }
                }
            }
            return shards
        }
        throw TestSetupError("no node of the test cluster answered CLUSTER SHARDS")
    }

    private static func pairs(_ reply: RedisReply) -> [String: RedisReply] {
        let flat = reply.array ?? []
        var fields: [String: RedisReply] = [:]
        for index in stride(from: 0, to: flat.count - 1, by: 2) {
            if let name = flat[index].string { fields[name] = flat[index + 1] }
        }
        return fields
    }

    static func waitUntil(seconds: Int = 15, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestSetupError("the cluster did not reach the expected state in \(seconds) s")
    }

    private static var directory: String {
        get throws {
            guard let directory = ProcessInfo.processInfo.environment["BOXOFFICE_TEST_REDIS_CLUSTER_DIR"] else {
                throw TestSetupError("BOXOFFICE_TEST_REDIS_CLUSTER_DIR is not set: run the tests with scripts/test")
            }
            return directory
        }
    }

    /// Stops a node at once, as a crash would (no save, clients cut off).
    static func kill(port: Int) async throws {
        let pidText = try String(contentsOfFile: "\(try directory)/\(port)/redis.pid", encoding: .utf8)
        guard let pid = Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw TestSetupError("no pid for cluster node \(port)")
        }
        Foundation.kill(pid, SIGKILL)
        try await waitUntil { (try? await withNode(port: port) { try await $0.send(.ping()) }) == nil }
    }

    /// Starts a killed node again; it rejoins as a replica of the node that took over.
    static func restart(port: Int) async throws {
        if (try? await withNode(port: port) { try await $0.send(.ping()) }) != nil { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["redis-server", "\(try directory)/\(port)/redis.conf"]
        try process.run()
        try await waitUntil { (try? await withNode(port: port) { try await $0.send(.ping()) }) != nil }
        try await waitUntil(seconds: 20) {
            let shards = try await shards()
            return shards.replicas.values.contains { $0.contains(port) }
        }
    }
}
