import Foundation

/// Where Redis is and how the client treats it.
public struct RedisConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var password: String?
    public var database: Int
    /// Connections in the pool; each one pipelines many commands.
    public var poolSize: Int = 4
    public var commandTimeout: Duration = .seconds(2)
    public var connectTimeout: Duration = .seconds(1)
    /// After a failed connect, commands fail at once until the backoff passes; it doubles up to the maximum.
    public var minimumBackoff: Duration = .milliseconds(50)
    public var maximumBackoff: Duration = .seconds(1)
    /// Nodes to learn a Redis Cluster's map from; empty for a single server (`host`, `port`).
    public var clusterSeeds: [ClusterEndpoint] = []
    /// `MOVED`, `ASK` and retries after a failover one command may go through before it fails.
    public var clusterMaximumRedirects = 6
    /// The map is read again at least this often, and on a redirect or a lost node no more often.
    public var clusterRefreshInterval: Duration = .seconds(10)
    public var clusterMinimumRefreshInterval: Duration = .milliseconds(250)

    public var isCluster: Bool { !clusterSeeds.isEmpty }

    public init(host: String = "127.0.0.1", port: Int = 6379, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.password = password
        self.database = database
    }

    /// Parses `redis://[[user]:password@]host[:port][/db]`, or
    /// `redis-cluster://[[user]:password@]host:port[,host:port…][/]` for a Redis Cluster (any
    /// of its nodes; the client reads the rest of the map from them).
    public init(url: String) throws(RedisError) {
        if url.hasPrefix("redis-cluster://") {
            try self.init(clusterURL: url)
            return
        }
        guard let components = URLComponents(string: url), components.scheme == "redis" else {
            throw RedisError(.invalidConfiguration, "the Redis URL must look like redis://[:password@]host:port/db")
        }
        guard let host = components.host, !host.isEmpty else {
            throw RedisError(.invalidConfiguration, "the Redis URL has no host")
        }
        let path = components.path.drop { $0 == "/" }
        var database = 0
        if !path.isEmpty {
            guard let number = Int(path), number >= 0 else {
                throw RedisError(.invalidConfiguration, "the Redis URL's database '\(path)' is not a number")
            }
            database = number
        }
        let password = components.percentEncodedPassword.flatMap { $0.removingPercentEncoding }
        self.init(host: host, port: components.port ?? 6379, password: password, database: database)
    }

    private init(clusterURL url: String) throws(RedisError) {
        var rest = url.dropFirst("redis-cluster://".count)
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            let secret = credentials.firstIndex(of: ":").map { credentials[credentials.index(after: $0)...] } ?? credentials
            password = String(secret).removingPercentEncoding
            rest = rest[rest.index(after: at)...]
        }
        if let slash = rest.firstIndex(of: "/") {
            guard rest[rest.index(after: slash)...].allSatisfy({ $0 == "/" || $0 == "0" }) else {
                throw RedisError(.invalidConfiguration, "a Redis Cluster has only database 0")
            }
            rest = rest[..<slash]
        }
        var seeds: [ClusterEndpoint] = []
        for node in rest.split(separator: ",", omittingEmptySubsequences: false) {
            let text = node.hasPrefix("[") ? Substring(node.dropFirst().replacingOccurrences(of: "]", with: "")) : node
            guard let endpoint = ClusterEndpoint(text), !endpoint.host.isEmpty else {
                throw RedisError(.invalidConfiguration, "the Redis Cluster URL must list nodes as host:port, separated by commas")
            }
            seeds.append(endpoint)
        }
        guard let first = seeds.first else {
            throw RedisError(.invalidConfiguration, "the Redis Cluster URL names no node")
        }
        self.init(host: first.host, port: first.port, password: password, database: 0)
        clusterSeeds = seeds
    }

    /// `host:port` (every seed of a cluster), for messages; never the password.
    public var address: String {
        isCluster ? clusterSeeds.map(\.description).joined(separator: ",") : "\(host):\(port)"
    }
}
