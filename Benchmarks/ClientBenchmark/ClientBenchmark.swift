import ArgumentParser
import Foundation
import Logging
import PostgresClient
import RedisClient
import Synchronization

/// Throughput of the two thin clients, printed as one number (operations per second) so that
/// scripts/bench-clients can set it beside redis-benchmark and pgbench from the same run.
@main
struct ClientBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Operations per second of the Swift Redis and PostgreSQL clients.",
        subcommands: [RedisEvalsha.self, PostgresSelect.self]
    )
}

struct RedisEvalsha: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis-evalsha",
        abstract: "EVALSHA of a small script with N commands in flight."
    )

    @Option var url = "redis://127.0.0.1:6390/0"
    @Option(name: .customLong("in-flight")) var inFlight = 16
    @Option var seconds = 5.0
    @Option(name: .customLong("pool-size")) var poolSize = 2

    func run() async throws {
        var configuration = try RedisConfiguration(url: url)
        configuration.poolSize = poolSize
        let client = RedisClient(configuration: configuration, logger: Logger(label: "bench"))
        let script = RedisScript(name: "bench", source: "return redis.call('INCR', KEYS[1])")
        try await client.load([script])
        let operations = try await measure(workers: inFlight, seconds: seconds) { worker in
            _ = try await client.evaluate(script, keys: ["bench:{w\(worker % 16)}"])
        }
        await client.close()
        print(Int(operations))
    }
}

struct PostgresSelect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postgres-select",
        abstract: "pgbench -S's query, parameterised, from N connections (needs pgbench -i)."
    )

    @Option var url = "postgres://boxoffice:boxoffice@127.0.0.1:5440/boxoffice_bench"
    @Option var connections = 16
    @Option var seconds = 5.0
    @Option var accounts = 100_000

    func run() async throws {
        var configuration = try PostgresConfiguration(url: url)
        configuration.maxConnections = connections
        let pool = PostgresPool(configuration: configuration, logger: Logger(label: "bench"))
        let accounts = accounts
        let operations = try await measure(workers: connections, seconds: seconds) { _ in
            let account = Int.random(in: 1...accounts)
            _ = try await pool.query("SELECT abalance FROM pgbench_accounts WHERE aid = \(account)")
        }
        await pool.close()
        print(Int(operations))
    }
}

private final class RunState: Sendable {
    let counting = Atomic<Bool>(false)
    let stopping = Atomic<Bool>(false)
    let completed = Atomic<Int>(0)
}

/// Runs `workers` loops of `operation` for a warm-up second and then `seconds`; operations per second.
func measure(
    workers: Int,
    seconds: Double,
    _ operation: @escaping @Sendable (Int) async throws -> Void
) async throws -> Double {
    let state = RunState()
    let elapsed: Duration = try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<workers {
            group.addTask {
                while !state.stopping.load(ordering: .relaxed) {
                    try await operation(worker)
                    if state.counting.load(ordering: .relaxed) { state.completed.add(1, ordering: .relaxed) }
                }
            }
        }
        try await Task.sleep(for: .seconds(1))
        let start = ContinuousClock.now
        state.counting.store(true, ordering: .relaxed)
        try await Task.sleep(for: .seconds(seconds))
        state.counting.store(false, ordering: .relaxed)
        let elapsed = ContinuousClock.now - start
        state.stopping.store(true, ordering: .relaxed)
        try await group.waitForAll()
        return elapsed
    }
    let (wholeSeconds, attoseconds) = elapsed.components
    return Double(state.completed.load(ordering: .relaxed)) / (Double(wholeSeconds) + Double(attoseconds) / 1e18)
}
