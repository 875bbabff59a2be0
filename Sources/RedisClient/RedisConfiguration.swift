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

    public init(host: String = "127.0.0.1", port: Int = 6379, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.password = password
        self.database = database
    }

    /// Parses `redis://[[user]:password@]host[:port][/db]`.
    public init(url: String) throws(RedisError) {
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

    /// `host:port`, for messages; never the password.
    public var address: String { "\(host):\(port)" }
}
