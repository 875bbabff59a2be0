import NIOCore
import Testing

@testable import RedisClient

@Suite struct HashSlotTests {
    @Test(arguments: [
        // The cluster specification's vector, and slots `CLUSTER KEYSLOT` gives for these keys.
        ("123456789", 12739),
        ("", 0),
        ("foo", 12182),
        ("bar", 5061),
        ("bo:{st:1}:sold", 4429),
        // Only the first {…} counts, and only when it is not empty.
        ("{user1000}.following", 3443),
        ("{user1000}.followers", 3443),
        ("foo{}{bar}", 8363),
        ("foo{{bar}}zap", 4015),
        ("foo{bar}{zap}", 5061),
        ("{bar", 4015),
    ])
    func aKeysSlotIsCRC16OfItsHashTagOrOfTheWholeKey(key: String, slot: Int) {
        #expect(HashSlot.of(key) == slot)
    }

    @Test func everyKeyOfAShowtimeSharesOneSlot() {
        let keys = ShowtimeKeysForTest(showtimeID: 42)
        let slots = Set(keys.all.map(HashSlot.of))
        #expect(slots.count == 1)
    }
}

/// The key names BoxOffice builds (kept here as text so this target does not depend on it).
private struct ShowtimeKeysForTest {
    let showtimeID: Int
    var all: [String] {
        let prefix = "bo:{st:\(showtimeID)}:"
        return ["seat:17", "hold:abc", "expiry", "sold", "version", "users", "events", "sold-epoch", "seat-versions"]
            .map { prefix + $0 }
    }
}

@Suite struct CommandKeyTests {
    @Test(arguments: [
        (["GET", "k"], "k"),
        (["ZRANGE", "bo:{st:1}:expiry", "0", "-1"], "bo:{st:1}:expiry"),
        (["EVALSHA", "abc", "2", "k1", "k2", "arg"], "k1"),
        (["EVAL", "return 1", "0", "arg"], nil),
        (["SPUBLISH", "bo:{st:1}:events", "{}"], "bo:{st:1}:events"),
        (["PING"], nil),
        (["TIME"], nil),
        (["SCRIPT", "LOAD", "return 1"], nil),
        (["CLUSTER", "SHARDS"], nil),
        (["PUBLISH", "channel", "message"], nil),
    ] as [([String], String?)])
    func theRoutingKeyIsTheFirstKeyOfTheCommand(arguments: [String], key: String?) {
        #expect(CommandKey.routingKey(of: arguments) == key)
    }
}

@Suite struct ClusterRedirectTests {
    let sentTo = ClusterEndpoint(host: "10.0.0.1", port: 7000)

    @Test func movedNamesTheSlotAndItsNewPrimary() {
        let redirect = ClusterRedirect(errorMessage: "MOVED 3999 127.0.0.1:6381", sentTo: sentTo)
        #expect(redirect == ClusterRedirect(kind: .moved, slot: 3999, endpoint: ClusterEndpoint(host: "127.0.0.1", port: 6381)))
    }

    @Test func askNamesTheNodeTheSlotIsMigratingTo() {
        let redirect = ClusterRedirect(errorMessage: "ASK 12739 10.0.0.2:7001", sentTo: sentTo)
        #expect(redirect?.kind == .ask)
        #expect(redirect?.endpoint == ClusterEndpoint(host: "10.0.0.2", port: 7001))
    }

    @Test func anEmptyHostMeansTheHostTheCommandWentTo() {
        let redirect = ClusterRedirect(errorMessage: "MOVED 1 :7002", sentTo: sentTo)
        #expect(redirect?.endpoint == ClusterEndpoint(host: "10.0.0.1", port: 7002))
    }

    @Test func anIPv6HostKeepsItsColons() {
        let redirect = ClusterRedirect(errorMessage: "MOVED 1 ::1:7002", sentTo: sentTo)
        #expect(redirect?.endpoint == ClusterEndpoint(host: "::1", port: 7002))
    }

    @Test(arguments: [
        "ERR unknown command", "MOVED", "MOVED x 127.0.0.1:1", "MOVED 16384 127.0.0.1:1",
        "MOVED 1 127.0.0.1", "MOVED 1 127.0.0.1:0", "ASK 1 h:1 extra", "NOSCRIPT No matching script",
    ])
    func otherErrorsAreNotRedirects(message: String) {
        #expect(ClusterRedirect(errorMessage: message, sentTo: sentTo) == nil)
    }
}

@Suite struct ClusterTopologyTests {
    /// The RESP2 shape of `CLUSTER SHARDS` on Redis 7.0: flat name/value arrays.
    static func shard(slots: [Int], nodes: [(ip: String, port: Int, role: String, health: String)]) -> RedisReply {
        .array([
            .bulkString(ByteBuffer(string: "slots")), .array(slots.map { .integer($0) }),
            .bulkString(ByteBuffer(string: "nodes")), .array(nodes.map { node in
                .array([
                    .bulkString(ByteBuffer(string: "id")), .bulkString(ByteBuffer(string: "abc")),
                    .bulkString(ByteBuffer(string: "port")), .integer(node.port),
                    .bulkString(ByteBuffer(string: "ip")), .bulkString(ByteBuffer(string: node.ip)),
                    .bulkString(ByteBuffer(string: "endpoint")), .bulkString(ByteBuffer(string: node.ip)),
                    .bulkString(ByteBuffer(string: "role")), .bulkString(ByteBuffer(string: node.role)),
                    .bulkString(ByteBuffer(string: "replication-offset")), .integer(100),
                    .bulkString(ByteBuffer(string: "health")), .bulkString(ByteBuffer(string: node.health)),
                ])
            }),
        ])
    }

    static let threeShards = RedisReply.array([
        shard(slots: [0, 5460], nodes: [("127.0.0.1", 7000, "master", "online"), ("127.0.0.1", 7003, "replica", "online")]),
        shard(slots: [5461, 10922], nodes: [("127.0.0.1", 7004, "replica", "online"), ("127.0.0.1", 7001, "master", "online")]),
        shard(slots: [10923, 12000, 12001, 16383], nodes: [("127.0.0.1", 7002, "master", "online")]),
    ])

    @Test func eachSlotMapsToItsShardsPrimary() throws {
        let topology = try ClusterTopology(shards: Self.threeShards)
        #expect(topology.primary(forSlot: 0)?.port == 7000)
        #expect(topology.primary(forSlot: 5460)?.port == 7000)
        #expect(topology.primary(forSlot: 5461)?.port == 7001)
        #expect(topology.primary(forSlot: 12000)?.port == 7002)
        #expect(topology.primary(forSlot: 16383)?.port == 7002)
        #expect(topology.uncoveredSlots == 0)
        #expect(Set(topology.primaries.map(\.port)) == [7000, 7001, 7002])
    }

    @Test func aShardWhosePrimaryFailedServesNothingUntilAReplicaIsPromoted() throws {
        let reply = RedisReply.array([
            Self.shard(slots: [0, 8191], nodes: [("127.0.0.1", 7000, "master", "fail"), ("127.0.0.1", 7003, "replica", "online")]),
            Self.shard(slots: [8192, 16383], nodes: [("127.0.0.1", 7001, "master", "online")]),
        ])
        let topology = try ClusterTopology(shards: reply)
        #expect(topology.primary(forSlot: 100) == nil)
        #expect(topology.uncoveredSlots == 8192)
        #expect(topology.primary(forSlot: 9000)?.port == 7001)
    }

    @Test func movedMovesOneSlotAndAskChangesNothing() throws {
        var topology = try ClusterTopology(shards: Self.threeShards)
        let to7002 = ClusterEndpoint(host: "127.0.0.1", port: 7002)
        topology.apply(ClusterRedirect(kind: .ask, slot: 1, endpoint: to7002))
        #expect(topology.primary(forSlot: 1)?.port == 7000)
        topology.apply(ClusterRedirect(kind: .moved, slot: 1, endpoint: to7002))
        #expect(topology.primary(forSlot: 1)?.port == 7002)
        #expect(topology.primary(forSlot: 0)?.port == 7000)
        #expect(topology.primary(forSlot: 2)?.port == 7000)
    }

    @Test func aMovedToANodeNotYetKnownAddsIt() throws {
        var topology = try ClusterTopology(shards: Self.threeShards)
        topology.apply(ClusterRedirect(kind: .moved, slot: 7, endpoint: ClusterEndpoint(host: "127.0.0.1", port: 7003)))
        #expect(topology.primary(forSlot: 7)?.port == 7003)
        #expect(topology.primaries.count == 4)
    }

    @Test(arguments: [
        RedisReply.status("OK"),
        .array([.array([.bulkString(ByteBuffer(string: "slots"))])]),
        .array([shard(slots: [0, 16384], nodes: [("127.0.0.1", 7000, "master", "online")])]),
        .array([shard(slots: [9, 3], nodes: [("127.0.0.1", 7000, "master", "online")])]),
    ])
    func aMalformedReplyIsAnErrorNotAWrongMap(reply: RedisReply) {
        #expect(throws: RedisError.self) { try ClusterTopology(shards: reply) }
    }
}

@Suite struct ClusterCommandRouteTests {
    let node = ClusterEndpoint(host: "127.0.0.1", port: 7000)
    let other = ClusterEndpoint(host: "127.0.0.1", port: 7001)

    @Test func anOrdinaryReplyOrErrorIsFinal() {
        var route = ClusterCommandRoute()
        #expect(route.received(.integer(1), from: node) == .reply(.integer(1)))
        #expect(route.received(.error("ERR wrong type"), from: node) == .reply(.error("ERR wrong type")))
    }

    @Test func movedAndAskSendAgainElsewhereAskWithASKING() {
        var route = ClusterCommandRoute()
        #expect(route.received(.error("MOVED 5 127.0.0.1:7001"), from: node) == .send(to: other, asking: false))
        #expect(route.received(.error("ASK 5 127.0.0.1:7001"), from: node) == .send(to: other, asking: true))
    }

    @Test func aClusterInTransitionIsAskedAgainAfterARefresh() {
        var route = ClusterCommandRoute()
        #expect(route.received(.error("TRYAGAIN Multiple keys request during rehashing of slot"), from: node) == .refreshAndRetry)
        #expect(route.received(.error("CLUSTERDOWN The cluster is down"), from: node) == .refreshAndRetry)
    }

    @Test func redirectsAreBounded() {
        var route = ClusterCommandRoute(maximumRedirects: 3)
        for _ in 0..<3 { #expect(route.received(.error("MOVED 5 127.0.0.1:7001"), from: node) == .send(to: other, asking: false)) }
        guard case .fail(let error) = route.received(.error("MOVED 5 127.0.0.1:7000"), from: other) else {
            Issue.record("a fourth redirect was followed")
            return
        }
        #expect(error.code == .unavailable)
    }

    @Test func aCommandThatMayHaveRunIsNeverSentTwice() {
        var route = ClusterCommandRoute()
        let inFlight = RedisError(.connectionClosed, "closed with the command in flight")
        #expect(route.failed(inFlight) == .fail(inFlight))
        #expect(route.failed(RedisError(.timeout, "late")) == .fail(RedisError(.timeout, "late")))
        var notSent = RedisError(.connectionClosed, "closed before the write")
        notSent.commandWasNotSent = true
        #expect(route.failed(notSent) == .refreshAndRetry)
        #expect(route.failed(RedisError(.unavailable, "connect refused")) == .refreshAndRetry)
    }
}

@Suite struct ClusterURLTests {
    @Test func aClusterURLListsItsSeedNodes() throws {
        let configuration = try RedisConfiguration(url: "redis-cluster://:s%40cret@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002/")
        #expect(configuration.isCluster)
        #expect(configuration.clusterSeeds == [
            ClusterEndpoint(host: "10.0.0.1", port: 7000), ClusterEndpoint(host: "10.0.0.2", port: 7001),
            ClusterEndpoint(host: "::1", port: 7002),
        ])
        #expect(configuration.password == "s@cret")
        #expect(configuration.address == "10.0.0.1:7000,10.0.0.2:7001,[::1]:7002")
    }

    @Test func aPlainURLIsOneServer() throws {
        let configuration = try RedisConfiguration(url: "redis://127.0.0.1:6391/2")
        #expect(!configuration.isCluster)
        #expect(configuration.database == 2)
    }

    @Test(arguments: ["redis-cluster://", "redis-cluster://h1", "redis-cluster://h1:7000,", "redis-cluster://h1:7000/3",
                      "redis-cluster://h1:99999"])
    func aMalformedClusterURLIsRefused(url: String) {
        #expect(throws: RedisError.self) { try RedisConfiguration(url: url) }
    }
}
