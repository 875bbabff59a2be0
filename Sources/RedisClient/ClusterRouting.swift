/// Redis Cluster's key space: 16,384 slots, a key's slot being CRC16 (XMODEM) of its hash tag
/// (the text between the first `{` and the next `}`, when not empty) or of the whole key.
public enum HashSlot {
    public static let count = 16_384

    public static func of(_ key: String) -> Int {
        var bytes = Array(key.utf8)
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
           let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")),
           close > open + 1 {
            bytes = Array(bytes[(open + 1)..<close])
        }
        return Int(crc16(bytes) & 0x3FFF)
    }

    static func crc16(_ bytes: [UInt8]) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}

/// Which key of a command decides where a cluster sends it. Commands without a key (`PING`,
/// `TIME`, `SCRIPT LOAD`…) may go to any node unless the caller names a key to route by.
enum CommandKey {
    private static let keyless: Set<String> = [
        "PING", "TIME", "SCRIPT", "CLUSTER", "INFO", "AUTH", "SELECT", "ASKING", "READONLY",
        "PUBLISH", "FLUSHALL", "FLUSHDB", "DBSIZE", "CONFIG", "CLIENT", "ECHO", "HELLO", "COMMAND",
    ]

    static func routingKey(of arguments: [String]) -> String? {
        guard let name = arguments.first?.uppercased() else { return nil }
        switch name {
        case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
            guard arguments.count > 3, let keys = Int(arguments[2]), keys > 0 else { return nil }
            return arguments[3]
        case "SPUBLISH":
            return arguments.count > 1 ? arguments[1] : nil
        default:
            if keyless.contains(name) || arguments.count < 2 { return nil }
            return arguments[1]
        }
    }
}

/// `host:port` of one cluster node as the cluster announces it.
public struct ClusterEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (the host may be an IPv6 address: the port follows the last colon).
    init?(_ text: Substring) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65_535).contains(port) else { return nil }
        self.init(host: String(text[..<colon]), port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A `MOVED` or `ASK` error reply: the slot lives (for good, or during a migration only for
/// this command) at another node.
struct ClusterRedirect: Sendable, Equatable {
    enum Kind: Sendable, Equatable { case moved, ask }
    var kind: Kind
    var slot: Int
    /// An empty host (`:port`, a node that does not know its own address) means the host the
    /// command was sent to.
    var endpoint: ClusterEndpoint

    init(kind: Kind, slot: Int, endpoint: ClusterEndpoint) {
        self.kind = kind
        self.slot = slot
        self.endpoint = endpoint
    }

    /// Parses `MOVED 3999 127.0.0.1:6381` / `ASK 3999 127.0.0.1:6381`; nil for any other reply.
    init?(errorMessage message: String, sentTo: ClusterEndpoint) {
        let parts = message.split(separator: " ")
        guard parts.count == 3, let slot = Int(parts[1]), (0..<HashSlot.count).contains(slot) else { return nil }
        switch parts[0] {
        case "MOVED": kind = .moved
        case "ASK": kind = .ask
        default: return nil
        }
        guard var endpoint = ClusterEndpoint(parts[2]) else { return nil }
        if endpoint.host.isEmpty { endpoint.host = sentTo.host }
        self.slot = slot
        self.endpoint = endpoint
    }
}

/// Which primary serves each slot, read from `CLUSTER SHARDS` and corrected by `MOVED`.
struct ClusterTopology: Sendable, Equatable {
    /// Index into `primaries` per slot; -1 where no node serves the slot.
    private var owners: [Int16]
    private(set) var primaries: [ClusterEndpoint]

    init() {
        owners = Array(repeating: -1, count: HashSlot.count)
        primaries = []
    }

    /// Reads the RESP2 form of `CLUSTER SHARDS`: per shard a flat map with `slots` (start, end
    /// pairs) and `nodes` (flat maps with `ip`/`endpoint`, `port`, `role`, `health`).
    init(shards reply: RedisReply) throws(RedisError) {
        self.init()
        guard let shards = reply.array else { throw Self.malformed(reply) }
        for shard in shards {
            let fields = try Self.map(shard)
            guard let ranges = fields["slots"]?.array, let nodes = fields["nodes"]?.array else { throw Self.malformed(shard) }
            let primary = try nodes.lazy.map { node throws(RedisError) in try Self.map(node) }.first { node in
                node["role"]?.string == "master" && (node["health"]?.string ?? "online") == "online"
            }
            guard let primary, ranges.count.isMultiple(of: 2) else { continue }
            let host = primary["ip"]?.string ?? primary["endpoint"]?.string ?? ""
            guard let port = primary["port"]?.integer, !host.isEmpty else { continue }
            let endpoint = ClusterEndpoint(host: host, port: port)
            for pair in stride(from: 0, to: ranges.count, by: 2) {
                guard let first = ranges[pair].integer, let last = ranges[pair + 1].integer,
                      0 <= first, first <= last, last < HashSlot.count else { throw Self.malformed(shard) }
                assign(first...last, to: endpoint)
            }
        }
    }

    func primary(forSlot slot: Int) -> ClusterEndpoint? {
        let owner = owners[slot]
        return owner < 0 ? nil : primaries[Int(owner)]
    }

    /// Slots no primary serves (a cluster still forming, or a shard lost with no replica).
    var uncoveredSlots: Int { owners.reduce(0) { $0 + ($1 < 0 ? 1 : 0) } }

    /// `MOVED`: the slot now lives at `endpoint`.
    mutating func apply(_ redirect: ClusterRedirect) {
        guard redirect.kind == .moved else { return }
        assign(redirect.slot...redirect.slot, to: redirect.endpoint)
    }

    private mutating func assign(_ slots: ClosedRange<Int>, to endpoint: ClusterEndpoint) {
        let index: Int
        if let existing = primaries.firstIndex(of: endpoint) {
            index = existing
        } else {
            index = primaries.count
            primaries.append(endpoint)
        }
        for slot in slots { owners[slot] = Int16(index) }
    }

    private static func map(_ reply: RedisReply) throws(RedisError) -> [String: RedisReply] {
        guard let flat = reply.array, flat.count.isMultiple(of: 2) else { throw malformed(reply) }
        var fields: [String: RedisReply] = [:]
        for index in stride(from: 0, to: flat.count, by: 2) {
            guard let name = flat[index].string else { throw malformed(reply) }
            fields[name] = flat[index + 1]
        }
        return fields
    }

    private static func malformed(_ reply: RedisReply) -> RedisError {
        RedisError(.unexpectedReply, "CLUSTER SHARDS answered in an unexpected shape: \(reply)")
    }
}

/// One command's way through a cluster, apart from I/O: where to send it, what a redirect or a
/// lost connection means, and when to give up.
struct ClusterCommandRoute: Sendable {
    enum Next: Sendable, Equatable {
        /// The reply is final (a value, or an error that is not a redirect).
        case reply(RedisReply)
        /// Send again to `endpoint`; `asking` means precede it with `ASKING` (the slot is
        /// migrating there; the map is not changed).
        case send(to: ClusterEndpoint, asking: Bool)
        /// The map is wrong or stale: read it again, then route afresh.
        case refreshAndRetry
        case fail(RedisError)
    }

    let maximumRedirects: Int
    private(set) var redirects = 0

    init(maximumRedirects: Int = 5) {
        self.maximumRedirects = maximumRedirects
    }

    /// Where the first attempt goes; nil when the map knows no node for the slot.
    static func firstTarget(slot: Int?, topology: ClusterTopology, anyNode: ClusterEndpoint?) -> ClusterEndpoint? {
        guard let slot else { return anyNode }
        return topology.primary(forSlot: slot)
    }

    /// What a reply from `endpoint` means. `MOVED` is also returned as `.send`, after the
    /// caller has applied it to the map (see `ClusterTopology.apply`).
    mutating func received(_ reply: RedisReply, from endpoint: ClusterEndpoint) -> Next {
        guard case .error(let message) = reply, let redirect = ClusterRedirect(errorMessage: message, sentTo: endpoint) else {
            if case .error(let message) = reply, Self.isTransientClusterState(message) {
                return nextRedirect(.refreshAndRetry)
            }
            return .reply(reply)
        }
        return nextRedirect(.send(to: redirect.endpoint, asking: redirect.kind == .ask))
    }

    /// A connection failure. Only a command that surely never ran may be sent again; the map
    /// is read again in either case (the node may have failed over).
    mutating func failed(_ error: RedisError) -> Next {
        guard error.commandWasNotSent || error.code == .unavailable else { return .fail(error) }
        return nextRedirect(.refreshAndRetry)
    }

    private mutating func nextRedirect(_ next: Next) -> Next {
        redirects += 1
        if redirects > maximumRedirects {
            return .fail(RedisError(.unavailable, "the Redis Cluster redirected a command \(maximumRedirects) times"))
        }
        return next
    }

    /// Replies a cluster gives while its slots move or a failover is under way.
    static func isTransientClusterState(_ message: String) -> Bool {
        message.hasPrefix("TRYAGAIN") || message.hasPrefix("CLUSTERDOWN")
    }
}
