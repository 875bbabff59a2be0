import Foundation
import Logging
import PostgresClient
import Testing

/// Fresh, throwaway databases on the test server given by `BOXOFFICE_TEST_DATABASE_URL`.
enum TestDatabase {
    static let logger = Logger(label: "test.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The server and role the tests use; that role must be allowed to CREATE DATABASE.
    static func adminConfiguration() throws -> PostgresConfiguration {
        guard let url = ProcessInfo.processInfo.environment["BOXOFFICE_TEST_DATABASE_URL"], !url.isEmpty else {
            throw TestSetupError(
                """
                BOXOFFICE_TEST_DATABASE_URL is not set: the PostgresClient integration tests need a PostgreSQL \
                server and a role that may CREATE DATABASE, e.g. \
                BOXOFFICE_TEST_DATABASE_URL=postgres://boxoffice:boxoffice@127.0.0.1:5441/postgres
                """
            )
        }
        var configuration = try PostgresConfiguration(url: url)
        configuration.maxConnections = 2
        configuration.acquireTimeout = .seconds(30)
        return configuration
    }

    /// Creates a database of its own for one test, gives `body` a pool on it, then closes the
    /// pool and drops the database.
    static func withFreshDatabase<R: Sendable>(
        maxConnections: Int = 4,
        acquireTimeout: Duration = .seconds(10),
        _ body: (PostgresPool, PostgresConfiguration) async throws -> R
    ) async throws -> R {
        let admin = try self.adminConfiguration()
        let name = "bo_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let adminPool = PostgresPool(configuration: admin, logger: self.logger)
        do {
            try await adminPool.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        } catch {
            await adminPool.close()
            throw error
        }

        var configuration = admin
        configuration.database = name
        configuration.maxConnections = maxConnections
        configuration.acquireTimeout = acquireTimeout
        configuration.applicationName = "boxoffice-test"
        let pool = PostgresPool(configuration: configuration, logger: self.logger)

        let result: Result<R, any Error>
        do {
            result = .success(try await body(pool, configuration))
        } catch {
            result = .failure(error)
        }
        await pool.close()
        _ = try? await adminPool.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
        await adminPool.close()
        return try result.get()
    }

    /// Same, for tests that only need the pool.
    static func withFreshDatabase<R: Sendable>(
        maxConnections: Int = 4,
        acquireTimeout: Duration = .seconds(10),
        _ body: (PostgresPool) async throws -> R
    ) async throws -> R {
        try await self.withFreshDatabase(maxConnections: maxConnections, acquireTimeout: acquireTimeout) { pool, _ in
            try await body(pool)
        }
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A directory of its own under the temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        self.path = FileManager.default.temporaryDirectory.appendingPathComponent("pg-migrations-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ contents: String) throws {
        try contents.write(toFile: self.path + "/" + name, atomically: true, encoding: .utf8)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: self.path)
    }
}
