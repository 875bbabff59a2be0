import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresClient
import RedisClient
import Testing

@Suite struct HealthAndErrorsTests {
    private func withApp(
        postgres: PostgresConfiguration? = nil,
        redis: RedisConfiguration? = nil,
        readinessTimeout: Duration = .seconds(10),
        _ test: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        let run: @Sendable (PostgresConfiguration) async throws -> Void = { postgres in
            try await TestServices.withDependencies(postgres: postgres, redis: redis, configure: {
                // Generous: every other test runs at once on two cores. The stall test sets a short one.
                $0.readinessTimeout = readinessTimeout
            }) { dependencies in
                // Connected first, as a running server is: the probe's deadline is for a service
                // that stalls, not for a first connect on a machine busy with the other tests.
                _ = try? await dependencies.redis.ping()
                _ = try? await dependencies.postgres.ping()
                let app = buildApplication(dependencies, settings: ServerSettings(), logger: Logger(label: "test"))
                try await app.test(.router, test)
            }
        }
        if let postgres {
            try await run(postgres)
        } else {
            try await TestServices.withDatabase(migrated: false) { try await run($0) }
        }
    }

    private func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] ?? [:]
    }

    @Test func healthAnswersOKWithARequestID() async throws {
        try await withApp { client in
            try await client.execute(uri: "/health", method: .get) { (response: TestResponse) throws in
                #expect(response.status == .ok)
                #expect(try json(response.body)["status"] as? String == "ok")
                #expect(response.headers[HTTPField.Name("X-Request-Id")!]?.isEmpty == false)
            }
        }
    }

    @Test func readyReportsBothServicesUp() async throws {
        try await withApp { client in
            try await client.execute(uri: "/ready", method: .get) { (response: TestResponse) throws in
                #expect(response.status == .ok)
                let services = try json(response.body)["services"] as? [String: [String: Any]]
                #expect(services?["redis"]?["status"] as? String == "up")
                #expect(services?["postgres"]?["status"] as? String == "up", "postgres: \(services?["postgres"]?["error"] ?? "")")
            }
        }
    }

    @Test func readyIs503NamingRedisWhenRedisIsDownWhileHealthStays200() async throws {
        let deadRedis = RedisConfiguration(host: "127.0.0.1", port: 1)
        try await withApp(redis: deadRedis) { client in
            try await client.execute(uri: "/ready", method: .get) { (response: TestResponse) throws in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] != nil)
                let services = try json(response.body)["services"] as? [String: [String: Any]]
                #expect(services?["redis"]?["status"] as? String == "down")
                #expect(services?["postgres"]?["status"] as? String == "up")
            }
            try await client.execute(uri: "/health", method: .get) { (response: TestResponse) throws in
                #expect(response.status == .ok)
            }
        }
    }

    /// A Redis that accepts connections but stalls (`DEBUG SLEEP 6`), as during a long fork or a
    /// failover: /ready still answers at once (503), so that a load balancer's check does not
    /// time out and the instance is taken out while the stall lasts.
    @Test func readyAnswersWhileRedisStallsInsteadOfWaitingForIt() async throws {
        let port = Int.random(in: 20_000...30_000)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-stall-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                            "--dir", directory.path, "--enable-debug-command", "yes"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        var redis = RedisConfiguration(host: "127.0.0.1", port: port)
        redis.commandTimeout = .seconds(10)
        let stalling = RedisClient(configuration: redis, logger: Logger(label: "test.stall"))
        // A child of this process may not hear SIGTERM (its threads block signals): stop it over the wire.
        func stopServer() async {
            _ = try? await stalling.send(RedisCommand<RedisReply>(["SHUTDOWN", "NOSAVE"]))
            await stalling.close()
            server.terminate()
            try? FileManager.default.removeItem(at: directory)
        }
        do {
            for _ in 0..<100 where (try? await stalling.ping()) == nil { try await Task.sleep(for: .milliseconds(50)) }
            try await withApp(redis: redis, readinessTimeout: .seconds(1)) { client in
                // Ready first (a busy machine may miss the deadline once).
                var ready = false
                for _ in 0..<20 where !ready {
                    ready = try await client.execute(uri: "/ready", method: .get).status == .ok
                }
                #expect(ready)
                let stall = Task { try await stalling.send(RedisCommand<RedisReply>(["DEBUG", "SLEEP", "6"])) }
                try await Task.sleep(for: .milliseconds(100))
                let started = ContinuousClock.now
                try await client.execute(uri: "/ready", method: .get) { (response: TestResponse) throws in
                    #expect(response.status == .serviceUnavailable)
                    let services = try json(response.body)["services"] as? [String: [String: Any]]
                    #expect(services?["redis"]?["status"] as? String == "down")
                    #expect((services?["redis"]?["error"] as? String)?.contains("did not answer within") == true)
                    #expect(services?["postgres"]?["status"] as? String == "up")
                }
                // Answered by the probe's deadline, well before the 6 s stall ends.
                #expect(ContinuousClock.now - started < .seconds(4))
                _ = try await stall.value
            }
            await stopServer()
        } catch {
            await stopServer()
            throw error
        }
    }

    @Test func readyIs503NamingPostgresWhenPostgresIsDown() async throws {
        var deadPostgres = try TestServices.serverConfiguration()
        deadPostgres.port = 1
        deadPostgres.connectTimeout = 1
        try await withApp(postgres: deadPostgres) { client in
            try await client.execute(uri: "/ready", method: .get) { (response: TestResponse) throws in
                #expect(response.status == .serviceUnavailable)
                let services = try json(response.body)["services"] as? [String: [String: Any]]
                #expect(services?["postgres"]?["status"] as? String == "down")
                #expect(services?["redis"]?["status"] as? String == "up", "redis: \(services?["redis"]?["error"] ?? "")")
                let error = services?["postgres"]?["error"] as? String ?? ""
                #expect(!error.contains("boxoffice:boxoffice"))  // no password in the report
            }
        }
    }

    @Test func unknownRoutesAnswerProblemJSONWithAStableCode() async throws {
        try await withApp { client in
            try await client.execute(uri: "/no/such/thing", method: .get) { (response: TestResponse) throws in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                let body = try json(response.body)
                #expect(body["code"] as? String == "not_found")
                #expect(body["status"] as? Int == 404)
                #expect((body["detail"] as? String)?.isEmpty == false)
                #expect(body["request_id"] as? String == response.headers[HTTPField.Name("X-Request-Id")!])
            }
        }
    }

    @Test func metricsCountRequestsByRouteAndStatus() async throws {
        try await withApp { client in
            _ = try await client.execute(uri: "/health", method: .get)
            _ = try await client.execute(uri: "/missing", method: .get)
            try await client.execute(uri: "/metrics", method: .get) { (response: TestResponse) throws in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                #expect(text.contains("hb_requests"))
                #expect(text.contains("http_route=\"/health\""))
                #expect(text.contains("http_response_status_code=\"404\""))
                #expect(text.contains("http_server_request_duration"))
            }
        }
    }

    @Test func metricsAnswerTheScrapersTokenOnlyWhenOneIsSet() async throws {
        try await TestServices.withDatabase(migrated: false) { postgres in
            try await TestServices.withDependencies(postgres: postgres) { dependencies in
                let settings = ServerSettings(metricsToken: "scrape-token-0123456789")
                let app = buildApplication(dependencies, settings: settings, logger: Logger(label: "test"))
                try await app.test(.router) { client in
                    #expect(try await client.execute(uri: "/metrics", method: .get).status == .notFound)
                    let wrong = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer scrape-token-0123456780"])
                    #expect(wrong.status == .notFound)
                    let right = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer scrape-token-0123456789"])
                    #expect(right.status == .ok)
                }
            }
        }
    }

    /// Without a token: a client on this machine may read them, a request through a proxy may not.
    @Test func withoutATokenMetricsAreForLoopbackClientsThatCameThroughNoProxy() async throws {
        try await TestServices.withDatabase(migrated: false) { postgres in
            try await TestServices.withDependencies(postgres: postgres) { dependencies in
                let settings = ServerSettings(host: "127.0.0.1", port: 0, openAPIPath: TestServices.serverSettings.openAPIPath)
                let app = buildApplication(dependencies, settings: settings, logger: Logger(label: "test"))
                try await app.test(.live) { client in
                    #expect(try await client.execute(uri: "/metrics", method: .get).status == .ok)
                    let proxied = try await client.execute(
                        uri: "/metrics", method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: "203.0.113.9"]
                    )
                    #expect(proxied.status == .notFound)
                }
            }
        }
    }

    @Test func aMethodAPathDoesNotTakeIs405WithAllowAndAnUnknownPathStays404() async throws {
        try await withApp { client in
            let trace = try await client.execute(uri: "/health", method: .trace)
            #expect(trace.status == .methodNotAllowed)
            #expect(trace.headers[.allow] == "GET")
            #expect(trace.headers[.contentType] == "application/problem+json")
            let patch = try await client.execute(uri: "/genres", method: .patch)
            #expect(patch.status == .methodNotAllowed)
            #expect(patch.headers[.allow] == "GET")
            let seats = try await client.execute(uri: "/showtimes/7/seats", method: .delete)
            #expect(seats.status == .methodNotAllowed)
            #expect(seats.headers[.allow] == "GET")
            let holds = try await client.execute(uri: "/holds/abc", method: .put)
            #expect(holds.headers[.allow] == "DELETE, GET")
            #expect(try await client.execute(uri: "/no/such/thing", method: .trace).status == .notFound)
        }
    }
}
