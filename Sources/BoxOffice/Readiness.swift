public import PostgresClient
public import RedisClient

/// Whether one backing service answers.
public struct DependencyStatus: Sendable, Equatable {
    public var name: String
    public var isUp: Bool
    /// Why it is down, in words fit for an operator (no secrets).
    public var problem: String?

    public init(name: String, isUp: Bool, problem: String? = nil) {
        self.name = name
        self.isUp = isUp
        self.problem = problem
    }
}

/// Checks the services a request needs: Redis (`PING`) and PostgreSQL (`SELECT 1`), side by side.
public struct ReadinessProbe: Sendable {
    let redis: RedisClient
    let postgres: PostgresPool

    public init(redis: RedisClient, postgres: PostgresPool) {
        self.redis = redis
        self.postgres = postgres
    }

    public func check() async -> [DependencyStatus] {
        async let redisStatus = Self.status(of: "redis") { try await redis.ping() }
        async let postgresStatus = Self.status(of: "postgres") { try await postgres.ping() }
        return await [redisStatus, postgresStatus]
    }

    private static func status(of name: String, _ check: () async throws -> Void) async -> DependencyStatus {
        do {
            try await check()
            return DependencyStatus(name: name, isUp: true)
        } catch {
            return DependencyStatus(name: name, isUp: false, problem: "\(error)")
        }
    }
}
