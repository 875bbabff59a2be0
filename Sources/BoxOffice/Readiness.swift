public import PostgresClient
public import RedisClient
import Synchronization

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
/// A service that does not answer within `timeout` counts as down at once: a load balancer's
/// health check must get its answer while the service stalls, not after it.
public struct ReadinessProbe: Sendable {
    let redis: RedisClient
    let postgres: PostgresPool
    let timeout: Duration

    public init(redis: RedisClient, postgres: PostgresPool, timeout: Duration = .milliseconds(500)) {
        self.redis = redis
        self.postgres = postgres
        self.timeout = timeout
    }

    public func check() async -> [DependencyStatus] {
        let (redis, postgres, timeout) = (redis, postgres, timeout)
        async let redisStatus = Self.status(of: "redis", within: timeout) { try await redis.ping() }
        async let postgresStatus = Self.status(of: "postgres", within: timeout) { try await postgres.ping() }
        return await [redisStatus, postgresStatus]
    }

    /// The check's status, or "down" once `timeout` passed; the check itself runs on (each
    /// client bounds its own wait) but nobody waits for it.
    private static func status(
        of name: String, within timeout: Duration, _ check: @escaping @Sendable () async throws -> Void
    ) async -> DependencyStatus {
        let once = Once()
        return await withCheckedContinuation { continuation in
            let timer = Task {
                // Cancelled: the check answered first (and claimed the answer before cancelling).
                guard (try? await Task.sleep(for: timeout)) != nil else { return }
                if once.claim() {
                    let milliseconds = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
                    continuation.resume(returning: DependencyStatus(
                        name: name, isUp: false, problem: "\(name) did not answer within \(milliseconds) ms"
                    ))
                }
            }
            Task {
                let status = await Self.status(of: name, check)
                if once.claim() { continuation.resume(returning: status) }
                timer.cancel()
            }
        }
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

/// True for the first caller of `claim` only.
private final class Once: Sendable {
    private let claimed = Atomic<Bool>(false)

    func claim() -> Bool {
        !claimed.exchange(true, ordering: .acquiringAndReleasing)
    }
}
