import BoxOfficeHTTP
import Foundation
import Logging
import Metrics
import PostgresClient
import Prometheus
import RedisClient

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The real Redis and PostgreSQL that scripts/test starts, and a fresh database per test.
enum TestServices {
    static var repositoryRoot: String {
        if let root = ProcessInfo.processInfo.environment["BOXOFFICE_REPO_ROOT"] { return root }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    static var migrationsDirectory: String { repositoryRoot + "/migrations" }

    static func environment(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name] else {
            throw TestSetupError("\(name) is not set: run the tests with scripts/test")
        }
        return value
    }

    static func redisConfiguration() throws -> RedisConfiguration {
        try RedisConfiguration(url: try environment("BOXOFFICE_TEST_REDIS_URL"))
    }

    static func serverConfiguration() throws -> PostgresConfiguration {
        try PostgresConfiguration(url: try environment("BOXOFFICE_TEST_DATABASE_URL"))
    }

    /// One registry for the whole test process: the metrics system can be bootstrapped once.
    static let metrics: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    /// Creates an empty database of its own, runs `body` with its configuration, drops it.
    static func withDatabase<R: Sendable>(
        migrated: Bool = true,
        _ body: (PostgresConfiguration) async throws -> R
    ) async throws -> R {
        let server = try serverConfiguration()
        let name = "bo_test_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        let admin = PostgresPool(configuration: server, logger: Logger(label: "test.pg.admin"))
        try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        var configuration = server
        configuration.database = name
        do {
            if migrated {
                let pool = PostgresPool(configuration: configuration, logger: Logger(label: "test.pg"))
                _ = try await Migrator(directory: migrationsDirectory).migrate(on: pool, logger: Logger(label: "test.migrate"))
                await pool.close()
            }
            let result = try await body(configuration)
            _ = try? await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
            await admin.close()
            return result
        } catch {
            _ = try? await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
            await admin.close()
            throw error
        }
    }

    /// Clients for the app under test; closed after `body`.
    static func withDependencies<R: Sendable>(
        postgres: PostgresConfiguration,
        redis: RedisConfiguration? = nil,
        _ body: (AppDependencies) async throws -> R
    ) async throws -> R {
        let dependencies = AppDependencies(
            redis: RedisClient(configuration: try redis ?? redisConfiguration(), logger: Logger(label: "test.redis")),
            postgres: PostgresPool(configuration: postgres, logger: Logger(label: "test.pg")),
            metrics: metrics
        )
        do {
            let result = try await body(dependencies)
            await dependencies.redis.close()
            await dependencies.postgres.close()
            return result
        } catch {
            await dependencies.redis.close()
            await dependencies.postgres.close()
            throw error
        }
    }
}
