import Foundation
import PostgresClient
import Testing

/// Queries multiplexed on the pool's non-blocking I/O thread: many callers on few connections,
/// slow and fast queries side by side, large messages, and more than one I/O thread.
@Suite struct IOLoopIntegrationTests {
    @Test func manyConcurrentQueriesOnFewConnectionsGetTheirOwnResults() async throws {
        try await TestDatabase.withFreshDatabase(maxConnections: 3) { pool in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<300 {
                    group.addTask {
                        let rows = try await pool.query("SELECT \(caller) AS n, repeat('x', \(caller % 50)::int) AS pad")
                        let row = try #require(rows.first)
                        #expect(try row.decode(Int.self, column: "n") == caller)
                        #expect(try row.decode(String.self, column: "pad").count == caller % 50)
                    }
                }
                try await group.waitForAll()
            }
            #expect(pool.statistics.open <= 3)
        }
    }

    @Test func concurrentQueriesOnOneLeasedConnectionRunInTurnAndGetTheirOwnResults() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            try await pool.withConnection { connection in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for caller in 0..<50 {
                        group.addTask {
                            let rows = try await connection.query("SELECT \(caller) AS n, pg_backend_pid() AS pid")
                            #expect(try rows.first?.decode(Int.self, column: "n") == caller)
                        }
                    }
                    try await group.waitForAll()
                }
            }
            #expect(pool.statistics.open == 1)
            #expect(pool.statistics.idle == 1)
        }
    }

    /// A query that waits in the server (here on an advisory lock, for as long as the test
    /// wants) must not hold up the other connections: with one blocking I/O thread the fast
    /// queries would never finish and the time limit would fail the test.
    @Test(.timeLimit(.minutes(1)))
    func slowQueryOnOneConnectionDoesNotDelayTheOthers() async throws {
        try await TestDatabase.withFreshDatabase(maxConnections: 3) { pool in
            try await pool.withConnection { holder in
                _ = try await holder.query("SELECT pg_advisory_lock(4242)")
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        _ = try await pool.query("SELECT pg_advisory_lock(4242), pg_advisory_unlock(4242)")
                    }
                    while try await holder.query("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                        .first?.decode(Int.self, column: "n") != 1 {
                        try await Task.sleep(for: .milliseconds(10))
                    }
                    for caller in 0..<100 {
                        let rows = try await pool.query("SELECT \(caller) AS n")
                        #expect(try rows.first?.decode(Int.self, column: "n") == caller)
                    }
                    _ = try await holder.query("SELECT pg_advisory_unlock(4242)")
                    try await group.waitForAll()
                }
            }
        }
    }

    @Test func largeParametersAndResultsCrossTheSocketWhole() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            // Larger than the socket buffers, so sending takes several flushes and reading several reads.
            let big = String(repeating: "0123456789abcdef", count: 1 << 18)  // 4 MiB
            let rows = try await pool.query("SELECT length(\(big)::text) AS n, md5(\(big)::text) AS sum")
            #expect(try rows.first?.decode(Int.self, column: "n") == big.utf8.count)
            let echoed = try await pool.query("SELECT \(big)::text AS big")
            #expect(try echoed.first?.decode(String.self, column: "big") == big)
        }
    }

    @Test func failingStatementStopsAMultiStatementStringAndKeepsItsError() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            let error = await #expect(throws: PostgresError.self) {
                try await pool.query(PostgresQuery(unsafeSQL: "CREATE TABLE a (id int); SELECT 1 / 0; CREATE TABLE b (id int);"))
            }
            #expect(error?.sqlState == "22012")
            // The string ran as one implicit transaction: nothing of it remains.
            let tables = try await pool.query("SELECT count(*) AS n FROM pg_tables WHERE tablename IN ('a', 'b')")
            #expect(try tables.first?.decode(Int.self, column: "n") == 0)
            #expect(pool.statistics.idle == 1)
        }
    }

    @Test func severalIOThreadsServeTheirConnections() async throws {
        try await TestDatabase.withFreshDatabase { _, configuration in
            var configuration = configuration
            configuration.ioThreads = 2
            configuration.maxConnections = 4
            let pool = PostgresPool(configuration: configuration, logger: TestDatabase.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<100 {
                    group.addTask {
                        let rows = try await pool.query("SELECT \(caller) AS n")
                        #expect(try rows.first?.decode(Int.self, column: "n") == caller)
                    }
                }
                try await group.waitForAll()
            }
            await pool.close()
            let error = await #expect(throws: PostgresError.self) { try await pool.ping() }
            #expect(error?.code == .poolClosed)
        }
    }

    #if os(Linux)
    @Test func poolDroppedWithoutClosingLetsItsThreadsGo() async throws {
        try await TestDatabase.withFreshDatabase { _, configuration in
            func threadCount() throws -> Int { try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count }
            let before = try threadCount()
            for _ in 0..<20 {
                let pool = PostgresPool(configuration: configuration, logger: TestDatabase.logger)
                try await pool.ping()
            }
            // Each pool had an I/O thread and an opening thread; they stop soon after it is gone.
            let deadline = ContinuousClock.now + .seconds(5)
            while try threadCount() > before + 4, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try threadCount() <= before + 4)
        }
    }
    #endif
}
