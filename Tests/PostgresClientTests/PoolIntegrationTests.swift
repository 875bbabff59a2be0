import Foundation
import PostgresClient
import Synchronization
import Testing

/// The pool against a real PostgreSQL: limits, waiting, timeouts, broken connections, closing.
@Suite struct PoolIntegrationTests {
    @Test func poolNeverOpensMoreThanMaxConnectionsUnderConcurrentUse() async throws {
        try await TestDatabase.withFreshDatabase(maxConnections: 3) { pool in
            let inside = ConcurrencyProbe()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<12 {
                    group.addTask {
                        try await pool.withConnection { connection in
                            inside.enter()
                            try await connection.query("SELECT pg_sleep(0.1)")
                            inside.leave()
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(inside.most <= 3)
            let statistics = pool.statistics
            #expect(statistics.open <= 3)
            #expect(statistics.idle == statistics.open)
            #expect(statistics.inUse == 0)
            #expect(statistics.waiting == 0)
            let rows = try await pool.query(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'boxoffice-test'"
            )
            #expect(try rows.first?.decode(Int.self, column: "n") == statistics.open)
        }
    }

    @Test func connectionsOpenLazily() async throws {
        try await TestDatabase.withFreshDatabase(maxConnections: 5) { pool in
            #expect(pool.statistics.open == 0)
            try await pool.ping()
            try await pool.ping()
            #expect(pool.statistics.open == 1)
        }
    }

    @Test func waitingLongerThanAcquireTimeoutFailsWithPoolTimeout() async throws {
        try await TestDatabase.withFreshDatabase(maxConnections: 1, acquireTimeout: .milliseconds(200)) { pool in
            try await withThrowingTaskGroup(of: Void.self) { group in
                let holding = AsyncStream.makeStream(of: Void.self)
                let release = AsyncStream.makeStream(of: Void.self)
                group.addTask {
                    try await pool.withConnection { connection in
                        holding.continuation.yield()
                        // Kept until the waiter has timed out, however long that takes.
                        for await _ in release.stream { break }
                        try await connection.query("SELECT 1")
                    }
                }
                for await _ in holding.stream { break }
                #expect(pool.statistics.inUse == 1)
                let error = await #expect(throws: PostgresError.self) { try await pool.ping() }
                #expect(error?.code == .poolTimeout)
                // The wait ended by its timeout, not because the connection came back.
                #expect(pool.statistics.inUse == 1)
                release.continuation.yield()
                #expect(pool.statistics.waiting == 0)
                try await group.waitForAll()
            }
            // Once the connection is back, the pool serves again.
            try await pool.ping()
        }
    }

    @Test func waiterIsServedWhenAConnectionComesBack() async throws {
        try await TestDatabase.withFreshDatabase(maxConnections: 1, acquireTimeout: .seconds(5)) { pool in
            async let slow: Void = pool.withConnection { connection in
                try await connection.query("SELECT pg_sleep(0.3)")
            }
            try await Task.sleep(for: .milliseconds(50))
            let rows = try await pool.query("SELECT 7 AS n")  // waits for the slow one
            #expect(try rows.first?.decode(Int.self, column: "n") == 7)
            try await slow
        }
    }

    @Test func cancelledWaiterLeavesTheLine() async throws {
        try await TestDatabase.withFreshDatabase(maxConnections: 1, acquireTimeout: .seconds(30)) { pool in
            try await pool.withConnection { _ in
                let waiter = Task { try await pool.ping() }
                while pool.statistics.waiting == 0 { try await Task.sleep(for: .milliseconds(5)) }
                waiter.cancel()
                await #expect(throws: CancellationError.self) { try await waiter.value }
                #expect(pool.statistics.waiting == 0)
            }
            try await pool.ping()
        }
    }

    @Test func terminatedIdleConnectionIsReplacedByAFreshOne() async throws {
        try await TestDatabase.withFreshDatabase(maxConnections: 1) { pool, configuration in
            let victim = try await pool.query("SELECT pg_backend_pid() AS pid").first!.decode(Int32.self, column: "pid")
            // Another client terminates the backend of the pool's idle connection (as a restart would).
            let killer = PostgresPool(configuration: configuration, logger: TestDatabase.logger)
            let terminated = try await killer.query("SELECT pg_terminate_backend(\(victim), 5000) AS done")
            await killer.close()
            #expect(try terminated.first?.decode(Bool.self, column: "done") == true)

            // The next query may fail with connectionLost or succeed; the one after succeeds.
            do {
                try await pool.ping()
            } catch let error as PostgresError {
                #expect(error.code == .connectionLost)
            }
            let fresh = try await pool.query("SELECT pg_backend_pid() AS pid").first!.decode(Int32.self, column: "pid")
            #expect(fresh != victim)
            #expect(pool.statistics.open == 1)
        }
    }

    @Test func connectionKilledMidUseFailsWithConnectionLostAndIsDiscarded() async throws {
        try await TestDatabase.withFreshDatabase(maxConnections: 2) { pool in
            let error = await #expect(throws: PostgresError.self) {
                try await pool.withConnection { connection in
                    let pid = try await connection.query("SELECT pg_backend_pid() AS pid").first!.decode(Int32.self, column: "pid")
                    // Another connection of the pool terminates this one's backend.
                    try await pool.query("SELECT pg_terminate_backend(\(pid), 5000)")
                    try await connection.query("SELECT 1")
                }
            }
            #expect(error?.code == .connectionLost)
            #expect(error?.description.contains("topsecret") == false)
            // The broken connection was not returned to the pool; the killer connection was.
            #expect(pool.statistics.open == 1)
            #expect(pool.statistics.idle == 1)
            for _ in 0..<3 { try await pool.ping() }
        }
    }

    @Test func unreachableServerFailsWithConnectionFailedNamingHostAndPort() async throws {
        var configuration = PostgresConfiguration(host: "127.0.0.1", port: 1, user: "nobody", password: "topsecret", database: "none")
        configuration.connectTimeout = 2
        let pool = PostgresPool(configuration: configuration, logger: TestDatabase.logger)
        let error = await #expect(throws: PostgresError.self) { try await pool.ping() }
        #expect(error?.code == .connectionFailed)
        #expect(error?.description.contains("127.0.0.1:1") == true)
        #expect(error?.description.contains("topsecret") == false)
        #expect(pool.statistics.open == 0)
        await pool.close()
    }

    @Test func closedPoolRefusesAndFailsItsWaiters() async throws {
        try await TestDatabase.withFreshDatabase(maxConnections: 1, acquireTimeout: .seconds(30)) { pool in
            try await withThrowingTaskGroup(of: Void.self) { group in
                let leased = AsyncStream.makeStream(of: Void.self)
                let giveBack = AsyncStream.makeStream(of: Void.self)
                group.addTask {
                    try await pool.withConnection { connection in
                        leased.continuation.yield()
                        for await _ in giveBack.stream { break }
                        // A leased connection keeps working while the pool closes.
                        try await connection.query("SELECT 1")
                    }
                }
                for await _ in leased.stream { break }
                let waiter = Task { try await pool.ping() }
                while pool.statistics.waiting == 0 { try await Task.sleep(for: .milliseconds(5)) }

                group.addTask { await pool.close() }
                let waiterError = await #expect(throws: PostgresError.self) { try await waiter.value }
                #expect(waiterError?.code == .poolClosed)
                let newcomerError = await #expect(throws: PostgresError.self) { try await pool.ping() }
                #expect(newcomerError?.code == .poolClosed)

                giveBack.continuation.yield()
                try await group.waitForAll()  // close() returns once the lease is back
            }
            #expect(pool.statistics.open == 0)
        }
    }

    @Test func connectionUsedAfterItsScopeIsRefused() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            let escaped = try await pool.withConnection { $0 }
            await #expect(throws: PostgresError.self) { try await escaped.query("SELECT 1") }
        }
    }
}

/// Counts how many tasks are inside a section at once, and the most there ever were.
final class ConcurrencyProbe: Sendable {
    private let state = Mutex((now: 0, most: 0))

    func enter() { self.state.withLock { $0.now += 1; $0.most = max($0.most, $0.now) } }
    func leave() { self.state.withLock { $0.now -= 1 } }
    var most: Int { self.state.withLock { $0.most } }
}
