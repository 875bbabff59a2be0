import Foundation
import Logging
import NIOCore
import NIOPosix
import RedisClient
import Testing

enum TestRedis {
    /// The shared test Redis started by scripts/test.
    static func configuration() throws -> RedisConfiguration {
        guard let url = ProcessInfo.processInfo.environment["BOXOFFICE_TEST_REDIS_URL"] else {
            throw TestSetupError("BOXOFFICE_TEST_REDIS_URL is not set: run the tests with scripts/test")
        }
        var configuration = try RedisConfiguration(url: url)
        // Tests prove behaviour, not speed: a busy machine must not turn into timeouts.
        configuration.commandTimeout = .seconds(10)
        configuration.connectTimeout = .seconds(5)
        return configuration
    }

    /// A key prefix of its own for each test, so tests never see each other's data.
    static func prefix() -> String { "test:\(UUID().uuidString.prefix(8)):" }

    @discardableResult
    static func withClient<R: Sendable>(
        _ configuration: RedisConfiguration? = nil,
        _ body: (RedisClient) async throws -> R
    ) async throws -> R {
        let client = RedisClient(configuration: try configuration ?? Self.configuration(), logger: Logger(label: "test.redis"))
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A redis-server of a test's own, which the test may stop and start again.
///
/// Stopped with `SHUTDOWN NOSAVE` over the wire rather than by waiting on the process:
/// `Process.waitUntilExit` would block a thread of Swift's small cooperative pool.
final class RedisServerProcess: Sendable {
    let port: Int
    let password: String?
    private let directory: URL

    init(password: String? = nil) async throws {
        self.port = try await Self.freePort()
        self.password = password
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try await start()
    }

    var configuration: RedisConfiguration {
        var configuration = RedisConfiguration(host: "127.0.0.1", port: port, password: password)
        configuration.minimumBackoff = .milliseconds(20)
        configuration.maximumBackoff = .milliseconds(200)
        return configuration
    }

    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var arguments = ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "",
                         "--appendonly", "no", "--dir", directory.path]
        if let password { arguments += ["--requirepass", password] }
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<250 {
            if await isAccepting() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestSetupError("redis-server did not start on port \(port)")
    }

    func stop() async throws {
        var command: [String] = []
        if let password { command += ["AUTH", password] }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port).get()
        var buffer = channel.allocator.buffer(capacity: 64)
        if let password { RESPEncoder.encode(["AUTH", password], into: &buffer) }
        RESPEncoder.encode(["SHUTDOWN", "NOSAVE"], into: &buffer)
        try await channel.writeAndFlush(buffer).get()
        try await channel.closeFuture.get()
        for _ in 0..<250 {
            if !(await isAccepting()) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestSetupError("redis-server on port \(port) did not stop")
    }

    /// Runs `body` with a server of its own, removed afterwards whatever happens.
    static func with<R: Sendable>(
        password: String? = nil,
        _ body: (RedisServerProcess) async throws -> R
    ) async throws -> R {
        let server = try await RedisServerProcess(password: password)
        do {
            let result = try await body(server)
            await server.remove()
            return result
        } catch {
            await server.remove()
            throw error
        }
    }

    private func remove() async {
        if await isAccepting() { try? await stop() }
        try? FileManager.default.removeItem(at: directory)
    }

    private func isAccepting() async -> Bool {
        guard let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port).get() else { return false }
        try? await channel.close().get()
        return true
    }

    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close().get()
        return port
    }
}
