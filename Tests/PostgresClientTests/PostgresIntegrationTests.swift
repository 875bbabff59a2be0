import Foundation
import PostgresClient
import Testing

/// Queries, types, transactions and errors against a real PostgreSQL (`BOXOFFICE_TEST_DATABASE_URL`),
/// each test in a database of its own.
@Suite struct PostgresIntegrationTests {
    @Test func everyTypeRoundTripsThroughARealSelect() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            let text = "Zoë's \"première\" 🎬 \\ back; -- not a comment\nline two"
            let date = Date(timeIntervalSince1970: 1_714_566_896.123456)
            let id = UUID()
            let ints = [1, -2, Int.max, Int.min]
            let strings = ["plain", "a b", "say \"hi\"", "back\\slash", "", "NULL", "{x,y}", "Zoë 🎬"]
            let optionalStrings: [String?] = ["x", nil, "NULL"]
            let noInt: Int? = nil
            let noDate: Date? = nil
            let grid = [[1, 2], [3, 4]]

            let rows = try await pool.query(
                """
                SELECT \(42) AS int, \(Int32(-7)) AS int32, \(Int16(300)) AS int16, \(Int64(1) << 40) AS int64,
                       \(text)::text AS text, \(true) AS yes, \(false) AS no, \(2.5) AS double,
                       \(date) AS date, \(id) AS uuid, \(ints) AS ints, \(strings)::text[] AS strings,
                       \(optionalStrings)::text[] AS optional_strings, \(noInt) AS no_int, \(noDate) AS no_date,
                       \(grid) AS grid, \(Optional(5)) AS some_int, \([id]) AS uuids, \([date]) AS dates
                """
            )
            let row = try #require(rows.first)
            #expect(try row.decode(Int.self, column: "int") == 42)
            #expect(try row.decode(Int32.self, column: "int32") == -7)
            #expect(try row.decode(Int16.self, column: "int16") == 300)
            #expect(try row.decode(Int64.self, column: "int64") == 1 << 40)
            #expect(try row.decode(String.self, column: "text") == text)
            #expect(try row.decode(Bool.self, column: "yes") == true)
            #expect(try row.decode(Bool.self, column: "no") == false)
            #expect(try row.decode(Double.self, column: "double") == 2.5)
            let decodedDate = try row.decode(Date.self, column: "date")
            #expect(microseconds(decodedDate) == microseconds(date))
            #expect(try row.decode(UUID.self, column: "uuid") == id)
            #expect(try row.decode([Int].self, column: "ints") == ints)
            #expect(try row.decode([String].self, column: "strings") == strings)
            #expect(try row.decode([String?].self, column: "optional_strings") == optionalStrings)
            #expect(try row.decode(Int?.self, column: "no_int") == nil)
            #expect(try row.decode(Date?.self, column: "no_date") == nil)
            #expect(try row.decode([[Int]].self, column: "grid") == grid)
            #expect(try row.decode(Int?.self, column: "some_int") == 5)
            #expect(try row.decode([UUID].self, column: "uuids") == [id])
            #expect(try row.decode([Date].self, column: "dates").map(microseconds) == [microseconds(date)])
            #expect(try row.decode(String.self, at: 4) == text)
        }
    }

    @Test func aStatementIsPreparedOncePerSessionAndRunsWithEachRunsValues() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            try await pool.withConnection { connection in
                for value in [1, 2, 3] {
                    let rows = try await connection.query("SELECT \(value) + 1 AS next")
                    #expect(try rows.first?.decode(Int.self, column: "next") == value + 1)
                }
                // A statement that fails to prepare reports its error and prepares nothing.
                await #expect(throws: PostgresError.self) { try await connection.query("SELECT * FROM no_such_table") }
                let prepared = try await connection.query(
                    "SELECT statement FROM pg_prepared_statements WHERE statement NOT LIKE '%pg_prepared_statements%'"
                )
                #expect(try prepared.map { try $0.decode(String.self, column: "statement") } == ["SELECT $1 + 1 AS next"])
            }
        }
    }

    @Test func aTransactionsPlanningHoldsForItsStatementsAlone() async throws {
        // One connection, so every transaction below runs in the same session.
        try await TestDatabase.withFreshDatabase(maxConnections: 1) { pool in
            try await pool.query("CREATE TABLE plans (id int PRIMARY KEY)")
            func plans() async throws -> [Int] {
                try await pool.withConnection { connection in
                    let row = try #require(try await connection.query("""
                        SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE 'SELECT id FROM plans%'
                        """).first)
                    return [try row.decode(Int.self, column: "generic_plans"), try row.decode(Int.self, column: "custom_plans")]
                }
            }
            for value in 0..<3 {
                let mode = try await pool.withTransaction(planning: .generic) { transaction in
                    _ = try await transaction.query("SELECT id FROM plans WHERE id = \(value)")
                    return try #require(try await transaction.query("SHOW plan_cache_mode").first).decode(String.self, column: "plan_cache_mode")
                }
                #expect(mode == "force_generic_plan")
            }
            #expect(try await plans() == [3, 0], "generic: planned once, reused for every value")
            // Set for the transaction alone: the session is back to PostgreSQL's own choice.
            let after = try await pool.withConnection { connection in
                try #require(try await connection.query("SHOW plan_cache_mode").first).decode(String.self, column: "plan_cache_mode")
            }
            #expect(after == "auto")
            try await pool.withTransaction(planning: .custom) { transaction in
                _ = try await transaction.query("SELECT id FROM plans WHERE id = \(7)")
            }
            #expect(try await plans() == [3, 1], "custom: planned for its value")
        }
    }

    @Test func aPreparedStatementWhoseResultChangedShapeIsPreparedAgain() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            try await pool.withConnection { connection in
                try await connection.query("CREATE TABLE shapes (a int)")
                try await connection.query("INSERT INTO shapes VALUES (\(1))")
                _ = try await connection.query("SELECT * FROM shapes")
                try await connection.query("ALTER TABLE shapes ADD COLUMN b int")
                // PostgreSQL refuses the statement prepared for the old shape once...
                await #expect(throws: PostgresError.self) { try await connection.query("SELECT * FROM shapes") }
                // ...and the client prepares it afresh.
                let row = try #require(try await connection.query("SELECT * FROM shapes").first)
                #expect(try row.decode(Int.self, column: "a") == 1)
                #expect(try row.decode(Int?.self, column: "b") == nil)
            }
        }
    }

    @Test func valuesSurviveAStoreAndLoadThroughATable() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            try await pool.query(
                """
                CREATE TABLE things (
                    id uuid PRIMARY KEY, name text NOT NULL, price_cents bigint NOT NULL, seats int[] NOT NULL,
                    tags text[] NOT NULL, starts_at timestamptz NOT NULL, note text, active boolean NOT NULL
                )
                """
            )
            let id = UUID()
            let startsAt = Date(timeIntervalSince1970: 1_900_000_000.000001)
            let note: String? = nil
            let inserted = try await pool.query(
                """
                INSERT INTO things (id, name, price_cents, seats, tags, starts_at, note, active)
                VALUES (\(id), \("Dune: Part Two"), \(1_250), \([3, 4, 5]), \(["imax", "with space", "quote\""]), \(startsAt), \(note), \(true))
                """
            )
            #expect(inserted.affectedRows == 1)
            #expect(inserted.commandTag == "INSERT 0 1")

            let rows = try await pool.query("SELECT * FROM things WHERE id = \(id)")
            #expect(rows.columns == ["id", "name", "price_cents", "seats", "tags", "starts_at", "note", "active"])
            let row = try #require(rows.first)
            #expect(try row.decode(String.self, column: "name") == "Dune: Part Two")
            #expect(try row.decode(Int.self, column: "price_cents") == 1_250)
            #expect(try row.decode([Int].self, column: "seats") == [3, 4, 5])
            #expect(try row.decode([Int32].self, column: "seats") == [3, 4, 5])
            #expect(try row.decode([String].self, column: "tags") == ["imax", "with space", "quote\""])
            #expect(microseconds(try row.decode(Date.self, column: "starts_at")) == microseconds(startsAt))
            #expect(try row.decode(String?.self, column: "note") == nil)
            #expect(try row.decode(Bool.self, column: "active"))

            let matched = try await pool.query("SELECT name FROM things WHERE 4 = ANY(seats) AND id = ANY(\([id, UUID()]))")
            #expect(matched.count == 1)
        }
    }

    @Test func stringParametersFillEnumAndUUIDColumns() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            try await pool.query(PostgresQuery(unsafeSQL: "CREATE TYPE seat_status AS ENUM ('available', 'sold'); CREATE TABLE seats (id uuid, status seat_status)"))
            let id = UUID().uuidString
            try await pool.query("INSERT INTO seats VALUES (\(id), \("sold"))")
            let rows = try await pool.query("SELECT status FROM seats WHERE id = \(id) AND status = \("sold")")
            #expect(try rows.first?.decode(String.self, column: "status") == "sold")
        }
    }

    @Test func injectionAttemptIsStoredLiterally() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            try await pool.query("CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL)")
            let evil = "Robert'); DROP TABLE users; --"
            let evilToo = "' OR '1'='1"
            try await pool.query("INSERT INTO users (name) VALUES (\(evil)), (\(evilToo))")
            let rows = try await pool.query("SELECT name FROM users ORDER BY id")
            #expect(try rows.map { try $0.decode(String.self, column: "name") } == [evil, evilToo])
            let none = try await pool.query("SELECT name FROM users WHERE name = \(evilToo + "x")")
            #expect(none.isEmpty)
        }
    }

    @Test func parameterWithNULIsRefusedNotTruncated() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT \("abc\u{0}def")::text") }
            #expect(error?.sqlState == "22021")
            try await pool.ping()
        }
    }

    @Test func moneyIsBigintMinorUnitsDecodedAsInt() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            let rows = try await pool.query("SELECT sum(cents)::bigint AS total FROM unnest(\([1_250, 999, 9_000_000_000_001])) AS cents")
            #expect(try rows.first?.decode(Int.self, column: "total") == 9_000_000_002_250)
        }
    }

    @Test func multiStatementUnsafeSQLRunsEveryStatement() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            try await pool.query(PostgresQuery(unsafeSQL: "CREATE TABLE a (id int); INSERT INTO a VALUES (1), (2); CREATE TABLE b (id int);"))
            let rows = try await pool.query("SELECT count(*) AS n FROM a, b")
            #expect(try rows.first?.decode(Int.self, column: "n") == 0)
            let updated = try await pool.query("UPDATE a SET id = id + \(10)")
            #expect(updated.affectedRows == 2)
        }
    }

    // MARK: - Transactions

    @Test func transactionRollsBackWhenItsBodyThrows() async throws {
        struct Refused: Error {}
        try await TestDatabase.withFreshDatabase { pool in
            try await pool.query("CREATE TABLE bookings (id int PRIMARY KEY)")
            await #expect(throws: Refused.self) {
                try await pool.withTransaction { connection in
                    try await connection.query("INSERT INTO bookings VALUES (\(1))")
                    throw Refused()
                }
            }
            let rows = try await pool.query("SELECT count(*) AS n FROM bookings")
            #expect(try rows.first?.decode(Int.self, column: "n") == 0)
            #expect(pool.statistics.idle == 1)  // the connection came back clean
        }
    }

    @Test func cancelledTransactionRollsBackAndKeepsItsConnection() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            try await pool.query("CREATE TABLE bookings (id int PRIMARY KEY)")
            let inside = AsyncStream.makeStream(of: Void.self)
            let task = Task {
                try await pool.withTransaction { connection in
                    try await connection.query("INSERT INTO bookings VALUES (\(1))")
                    inside.continuation.yield()
                    try await Task.sleep(for: .seconds(30))
                }
            }
            for await _ in inside.stream { break }
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            let rows = try await pool.query("SELECT count(*) AS n FROM bookings")
            #expect(try rows.first?.decode(Int.self, column: "n") == 0)
            #expect(pool.statistics.open == 1)  // rolled back and reused, not discarded
        }
    }

    @Test func transactionCommitsWhenItsBodyReturns() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            try await pool.query("CREATE TABLE bookings (id int PRIMARY KEY)")
            let returned = try await pool.withTransaction(isolation: .repeatableRead) { connection in
                try await connection.query("INSERT INTO bookings VALUES (\(1)), (\(2))")
                let level = try await connection.query("SHOW transaction_isolation")
                return try level.first!.decode(String.self, at: 0)
            }
            #expect(returned == "repeatable read")
            let rows = try await pool.query("SELECT count(*) AS n FROM bookings")
            #expect(try rows.first?.decode(Int.self, column: "n") == 2)
        }
    }

    @Test func swallowedStatementErrorMakesTheCommitFail() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            try await pool.query("CREATE TABLE bookings (id int PRIMARY KEY)")
            let error = await #expect(throws: PostgresError.self) {
                try await pool.withTransaction { connection in
                    try await connection.query("INSERT INTO bookings VALUES (\(1))")
                    _ = try? await connection.query("INSERT INTO bookings VALUES (\(1))")  // duplicate, ignored
                }
            }
            #expect(error?.sqlState == "25P02")
            let rows = try await pool.query("SELECT count(*) AS n FROM bookings")
            #expect(try rows.first?.decode(Int.self, column: "n") == 0)
        }
    }

    @Test func serializableWriteSkewSurfacesAsSerializationFailure() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            try await pool.query("CREATE TABLE duty (doctor text PRIMARY KEY, on_call boolean NOT NULL)")
            try await pool.query("INSERT INTO duty VALUES ('a', true), ('b', true)")
            let error = await #expect(throws: PostgresError.self) {
                try await pool.withTransaction(isolation: .serializable) { first in
                    try await first.query("SELECT count(*) FROM duty WHERE on_call")
                    try await pool.withTransaction(isolation: .serializable) { second in
                        try await second.query("SELECT count(*) FROM duty WHERE on_call")
                        try await second.query("UPDATE duty SET on_call = false WHERE doctor = \("b")")
                    }
                    try await first.query("UPDATE duty SET on_call = false WHERE doctor = \("a")")
                }
            }
            #expect(error?.code == .serializationFailure)
            #expect(error?.sqlState == "40001")
            let rows = try await pool.query("SELECT count(*) AS n FROM duty WHERE on_call")
            #expect(try rows.first?.decode(Int.self, column: "n") == 1)
        }
    }

    // MARK: - Errors

    @Test func uniqueViolationBecomesItsSwiftErrorWithTheConstraintName() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            try await pool.query("CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL CONSTRAINT users_email_key UNIQUE)")
            try await pool.query("INSERT INTO users (email) VALUES (\("ann@example.com"))")
            let error = await #expect(throws: PostgresError.self) {
                try await pool.query("INSERT INTO users (email) VALUES (\("ann@example.com"))")
            }
            #expect(error?.code == .uniqueViolation)
            #expect(error?.sqlState == "23505")
            #expect(error?.constraint == "users_email_key")
            #expect(error?.table == "users")
            #expect(error?.detail?.contains("ann@example.com") == true)
            #expect(error?.serverMessage?.contains("duplicate key") == true)
            #expect(error?.description.contains("ann@example.com") == false)
            // The failed statement leaves the connection usable.
            try await pool.ping()
        }
    }

    @Test func exclusionViolationBecomesItsSwiftError() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            try await pool.query(
                PostgresQuery(
                    unsafeSQL: """
                        CREATE EXTENSION IF NOT EXISTS btree_gist;
                        CREATE TABLE showtimes (
                            id serial PRIMARY KEY, hall_id int NOT NULL, during tstzrange NOT NULL,
                            CONSTRAINT showtimes_no_overlap EXCLUDE USING gist (hall_id WITH =, during WITH &&)
                        );
                        """
                )
            )
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            try await pool.query("INSERT INTO showtimes (hall_id, during) VALUES (\(1), tstzrange(\(start), \(start + 7200)))")
            try await pool.query("INSERT INTO showtimes (hall_id, during) VALUES (\(2), tstzrange(\(start), \(start + 7200)))")
            let error = await #expect(throws: PostgresError.self) {
                try await pool.query("INSERT INTO showtimes (hall_id, during) VALUES (\(1), tstzrange(\(start + 3600), \(start + 9000)))")
            }
            #expect(error?.code == .exclusionViolation)
            #expect(error?.sqlState == "23P01")
            #expect(error?.constraint == "showtimes_no_overlap")
        }
    }

    @Test func foreignKeyViolationBecomesItsSwiftError() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            try await pool.query(
                PostgresQuery(
                    unsafeSQL: """
                        CREATE TABLE halls (id int PRIMARY KEY);
                        CREATE TABLE showtimes (id int PRIMARY KEY, hall_id int NOT NULL CONSTRAINT showtimes_hall_fk REFERENCES halls (id));
                        """
                )
            )
            let error = await #expect(throws: PostgresError.self) {
                try await pool.query("INSERT INTO showtimes VALUES (\(1), \(99))")
            }
            #expect(error?.code == .foreignKeyViolation)
            #expect(error?.constraint == "showtimes_hall_fk")
            #expect(error?.table == "showtimes")
        }
    }

    @Test func checkAndNotNullViolationsBecomeTheirSwiftErrors() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            try await pool.query("CREATE TABLE prices (cents bigint NOT NULL CONSTRAINT prices_positive CHECK (cents > 0))")
            let check = await #expect(throws: PostgresError.self) { try await pool.query("INSERT INTO prices VALUES (\(-1))") }
            #expect(check?.code == .checkViolation)
            #expect(check?.constraint == "prices_positive")
            let notNull = await #expect(throws: PostgresError.self) { try await pool.query("INSERT INTO prices VALUES (\(nil as Int?))") }
            #expect(notNull?.code == .notNullViolation)
        }
    }

    @Test func otherServerErrorsKeepTheirSQLStateAndMessage() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT * FROM no_such_table") }
            #expect(error?.code == .server)
            #expect(error?.sqlState == "42P01")
            #expect(error?.serverMessage?.contains("no_such_table") == true)
            let badInput = await #expect(throws: PostgresError.self) { try await pool.query("SELECT \("card 4111")::int") }
            #expect(badInput?.sqlState == "22P02")
            #expect(badInput?.description.contains("4111") == false)
        }
    }

    @Test func sessionRunsInUTCWithISODates() async throws {
        try await TestDatabase.withFreshDatabase { pool in
            let rows = try await pool.query("SELECT current_setting('TimeZone') AS tz, '2024-05-01 12:00:00+02'::timestamptz::text AS ts")
            let row = try #require(rows.first)
            #expect(try row.decode(String.self, column: "tz") == "UTC")
            #expect(try row.decode(String.self, column: "ts") == "2024-05-01 10:00:00+00")
        }
    }
}

func microseconds(_ date: Date) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
}
