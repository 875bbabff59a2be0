import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
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

    static var serverSettings: ServerSettings {
        ServerSettings(openAPIPath: repositoryRoot + "/openapi.yaml", publicDirectory: repositoryRoot + "/public")
    }

    static func environment(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name] else {
            throw TestSetupError("\(name) is not set: run the tests with scripts/test")
        }
        return value
    }

    static func redisConfiguration() throws -> RedisConfiguration {
        var configuration = try RedisConfiguration(url: try environment("BOXOFFICE_TEST_REDIS_URL"))
        // Tests prove behaviour, not speed: a busy machine must not turn into timeouts.
        configuration.commandTimeout = .seconds(10)
        configuration.connectTimeout = .seconds(5)
        return configuration
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

    /// The migrated template every test database is cloned from: cloning is much cheaper than
    /// migrating each database. Named after the migrations' contents, so later runs reuse it
    /// and a changed migration gets a template of its own.
    private static let template = Task<String, any Error> {
        let server = try serverConfiguration()
        let directory = URL(fileURLWithPath: migrationsDirectory)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }.sorted()
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a over names and contents
        for file in files {
            for byte in Array(file.utf8) + Array(try Data(contentsOf: directory.appendingPathComponent(file))) {
                hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
            }
        }
        let name = "bo_template_" + String(hash, radix: 16)
        var adminConfiguration = server
        adminConfiguration.maxConnections = 1
        let admin = PostgresPool(configuration: adminConfiguration, logger: Logger(label: "test.pg.admin"))
        defer { Task { await admin.close() } }
        let exists = try await admin.query("SELECT 1 FROM pg_database WHERE datname = \(name)")
        guard exists.isEmpty else { return name }
        // Made under a temporary name and renamed when complete: a half-migrated template is never used.
        let building = "bo_building_\(UUID().uuidString.prefix(8).lowercased())"
        try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(building)"))
        var configuration = server
        configuration.database = building
        configuration.maxConnections = 1
        let pool = PostgresPool(configuration: configuration, logger: Logger(label: "test.pg"))
        do {
            _ = try await Migrator(directory: migrationsDirectory).migrate(on: pool, logger: Logger(label: "test.migrate"))
            await pool.close()
            try await admin.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(building) RENAME TO \(name)"))
        } catch {
            await pool.close()
            _ = try? await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(building) WITH (FORCE)"))
            throw error
        }
        return name
    }

    /// Creates a database of its own (migrated: a clone of the template), runs `body` with its
    /// configuration, drops it. At most `databasesAtOnce` tests hold one at a time.
    static func withDatabase<R: Sendable>(
        migrated: Bool = true,
        _ body: (PostgresConfiguration) async throws -> R
    ) async throws -> R {
        await databaseSlots.acquire()
        do {
            let result = try await withOwnDatabase(migrated: migrated, body)
            await databaseSlots.release()
            return result
        } catch {
            await databaseSlots.release()
            throw error
        }
    }

    /// Every test of the target starts at once; each database costs up to about ten
    /// connections (its admin, one or two apps' pools), and the test server allows 200.
    static let databasesAtOnce = 16
    private static let databaseSlots = Slots(databasesAtOnce)

    private static func withOwnDatabase<R: Sendable>(
        migrated: Bool,
        _ body: (PostgresConfiguration) async throws -> R
    ) async throws -> R {
        let server = try serverConfiguration()
        let name = "bo_test_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        var adminConfiguration = server
        adminConfiguration.maxConnections = 1
        let admin = PostgresPool(configuration: adminConfiguration, logger: Logger(label: "test.pg.admin"))
        var configuration = server
        configuration.database = name
        // Many tests run at once against one server: small pools keep them under its connection limit.
        configuration.maxConnections = 4
        // ...and on two cores a test's burst (a thousand callbacks through four connections) can
        // wait longer for one than the production 5 s while the rest of the suite runs.
        configuration.acquireTimeout = .seconds(30)
        do {
            if migrated {
                try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) TEMPLATE \(try await template.value)"))
                let pool = PostgresPool(configuration: configuration, logger: Logger(label: "test.pg"))
                // Every test database would number its showtimes from 1, and their Redis keys
                // (bo:{st:<id>}:…) would meet on the shared test Redis: start each elsewhere.
                let firstShowtimeID = Int.random(in: 1_000_000...1_000_000_000_000)
                do {
                    try await pool.query(PostgresQuery(unsafeSQL: "ALTER TABLE showtimes ALTER COLUMN id RESTART WITH \(firstShowtimeID)"))
                    await pool.close()
                } catch {
                    await pool.close()
                    throw error
                }
            } else {
                try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
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
        configure: (inout BoxOfficeSettings) -> Void = { _ in },
        _ body: (AppDependencies) async throws -> R
    ) async throws -> R {
        var settings = BoxOfficeSettings()
        settings.bcryptCost = 4  // fast hashing: tests sign in often
        settings.seatMapMaxAge = .zero  // tests read their own changes at once; one test covers sharing
        settings.readinessTimeout = .seconds(10)  // every test at once on two cores; the stall test sets its own
        settings.posterDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("boxoffice-posters-\(UUID().uuidString)").path
        configure(&settings)
        let dependencies = AppDependencies(
            redis: RedisClient(configuration: try redis ?? redisConfiguration(), logger: Logger(label: "test.redis")),
            postgres: PostgresPool(configuration: postgres, logger: Logger(label: "test.pg")),
            metrics: metrics,
            tokens: await AccessTokens(secret: "test-secret-test-secret-test-secret-0123"),
            settings: settings,
            scripts: try HoldScripts(directory: repositoryRoot + "/lua"),
            logger: Logger(label: "test")
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

/// The whole application over a fresh migrated database, driven through HummingbirdTesting.
struct TestApp: Sendable {
    let client: any TestClientProtocol
    let dependencies: AppDependencies

    /// Runs `body` against an application of its own (fresh database, real Redis).
    static func run(
        _ framework: TestingSetup = .router,
        configure: @escaping (inout BoxOfficeSettings) -> Void = { _ in },
        _ body: @escaping @Sendable (TestApp) async throws -> Void
    ) async throws {
        try await TestServices.withDatabase { configuration in
            try await TestServices.withDependencies(postgres: configuration, configure: configure) { dependencies in
                let app = buildApplication(dependencies, settings: TestServices.serverSettings, logger: Logger(label: "test"))
                try await app.test(framework) { client in
                    try await body(TestApp(client: client, dependencies: dependencies))
                }
            }
        }
    }

    struct User: Sendable {
        var id: UUID
        var email: String
        var role: Role
        var token: String

        /// `Authorization: Bearer …` for this user.
        var headers: HTTPFields { [.authorization: "Bearer \(token)"] }
    }

    /// A user made straight in the database (password "password-123", not checked here),
    /// with a valid access token.
    /// The cinema that halls join when none is named.
    func defaultCinema() async throws -> Int {
        try await dependencies.postgres.query("SELECT default_cinema() AS id").first!.decode(Int.self, column: "id")
    }

    /// A user with a token; staff and managers work at `cinema` (default: the default cinema).
    func makeUser(role: Role = .user, email: String? = nil, cinema: Int? = nil) async throws -> User {
        let email = email ?? "\(role.rawValue)-\(UUID().uuidString.prefix(8).lowercased())@example.com"
        var cinemaID: Int?
        if role.belongsToCinema {
            cinemaID = if let cinema { cinema } else { try await defaultCinema() }
        }
        let id = try await dependencies.postgres.query("""
            INSERT INTO users (email, password_hash, name, role, cinema_id)
            VALUES (\(email), 'not-a-real-hash', 'Test User', \(role.rawValue), \(cinemaID))
            RETURNING id
            """).first!.decode(UUID.self, column: "id")
        let token = try await dependencies.tokens.issue(for: Identity(userID: id, role: role, cinemaID: cinemaID))
        return User(id: id, email: email, role: role, token: token)
    }

    /// Sends a request with an optional JSON body (any Encodable, or a raw JSON string).
    @discardableResult
    func request(
        _ method: HTTPRequest.Method,
        _ uri: String,
        as user: User? = nil,
        json: String? = nil,
        body: ByteBuffer? = nil,
        headers: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = headers
        if let user { headers[.authorization] = "Bearer \(user.token)" }
        var payload = body
        if let json {
            headers[.contentType] = "application/json"
            payload = ByteBuffer(string: json)
        }
        return try await client.execute(uri: uri, method: method, headers: headers, body: payload)
    }
}

extension TestResponse {
    /// The body as a JSON object (empty when it is not one).
    func json() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] ?? [:]
    }

    /// The body as a JSON array.
    func jsonArray() throws -> [[String: Any]] {
        try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [[String: Any]] ?? []
    }

    /// The `code` of a problem+json body.
    var problemCode: String? {
        (try? json())?["code"] as? String
    }
}

/// A counting semaphore for tasks: `acquire` waits while every slot is taken.
actor Slots {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) {
        free = count
    }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
}
