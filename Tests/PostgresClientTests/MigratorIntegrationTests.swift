import Foundation
import PostgresClient
import Testing

/// Migrations against a real PostgreSQL, each test in a database of its own.
@Suite struct MigratorIntegrationTests {
    private func writeMigrations(_ directory: TemporaryDirectory) throws {
        // Written out of order; 0002 needs 0001's table and 0010 needs 0002's column.
        try directory.write("0010_seed_halls.sql", "INSERT INTO halls (name, seats) VALUES ('Hall 1', 120), ('Hall 2', 80);\n")
        try directory.write("0002_add_seats.sql", "ALTER TABLE halls ADD COLUMN seats int NOT NULL DEFAULT 0;\n")
        try directory.write(
            "0001_create_halls.sql",
            """
            CREATE TABLE halls (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
            COMMENT ON TABLE halls IS 'cinema halls; a ; in a string is fine';
            """
        )
    }

    @Test func migrationsApplyInOrderAndAreRecorded() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try self.writeMigrations(directory)
        try await TestDatabase.withFreshDatabase { pool in
            let applied = try await Migrator(directory: directory.path).migrate(on: pool, logger: TestDatabase.logger)
            #expect(applied == ["0001_create_halls.sql", "0002_add_seats.sql", "0010_seed_halls.sql"])

            let halls = try await pool.query("SELECT name, seats FROM halls ORDER BY id")
            #expect(try halls.map { try $0.decode(Int.self, column: "seats") } == [120, 80])
            let recorded = try await pool.query("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
            #expect(try recorded.map { try $0.decode(Int.self, column: "version") } == [1, 2, 10])
            #expect(try recorded.map { try $0.decode(String.self, column: "name") } == applied)
            #expect(try recorded.allSatisfy { try $0.decode(String.self, column: "checksum").count == 64 })
            _ = try recorded.map { try $0.decode(Date.self, column: "applied_at") }
        }
    }

    @Test func applyingTwiceChangesNothing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try self.writeMigrations(directory)
        try await TestDatabase.withFreshDatabase { pool in
            let migrator = try Migrator(directory: directory.path)
            #expect(try await migrator.migrate(on: pool, logger: TestDatabase.logger).count == 3)
            #expect(try await migrator.migrate(on: pool, logger: TestDatabase.logger) == [])
            let halls = try await pool.query("SELECT count(*) AS n FROM halls")
            #expect(try halls.first?.decode(Int.self, column: "n") == 2)

            // A new file later applies on its own.
            try directory.write("0011_more_halls.sql", "INSERT INTO halls (name) VALUES ('Hall 3');")
            #expect(try await Migrator(directory: directory.path).migrate(on: pool, logger: TestDatabase.logger) == ["0011_more_halls.sql"])
        }
    }

    @Test func changedAppliedMigrationIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try self.writeMigrations(directory)
        try await TestDatabase.withFreshDatabase { pool in
            _ = try await Migrator(directory: directory.path).migrate(on: pool, logger: TestDatabase.logger)
            try directory.write("0002_add_seats.sql", "ALTER TABLE halls ADD COLUMN seats bigint NOT NULL DEFAULT 0;\n")
            try directory.write("0020_later.sql", "CREATE TABLE later (id int);")
            let error = await #expect(throws: MigrationError.self) {
                try await Migrator(directory: directory.path).migrate(on: pool, logger: TestDatabase.logger)
            }
            #expect(error?.file == "0002_add_seats.sql")
            #expect(error?.message.contains("0002_add_seats.sql") == true)
            #expect(error?.message.contains("changed after it was applied") == true)
            #expect(error?.message.contains("new migration") == true)
            // Nothing after the refused migration ran.
            let later = try await pool.query("SELECT to_regclass('later') IS NULL AS missing")
            #expect(try later.first?.decode(Bool.self, column: "missing") == true)
        }
    }

    @Test func failingMigrationIsRolledBackAndNotRecorded() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("0001_ok.sql", "CREATE TABLE ok (id int);")
        try directory.write("0002_broken.sql", "CREATE TABLE half (id int);\nCREATE TABLE broken (id int REFERENCES nowhere (id));")
        try await TestDatabase.withFreshDatabase { pool in
            let error = await #expect(throws: MigrationError.self) {
                try await Migrator(directory: directory.path).migrate(on: pool, logger: TestDatabase.logger)
            }
            #expect(error?.file == "0002_broken.sql")
            #expect(error?.message.contains("nowhere") == true)
            #expect(error?.underlying?.sqlState == "42P01")
            let state = try await pool.query(
                "SELECT to_regclass('ok') IS NOT NULL AS ok, to_regclass('half') IS NULL AS no_half, (SELECT count(*) FROM schema_migrations) AS recorded"
            )
            let row = try #require(state.first)
            #expect(try row.decode(Bool.self, column: "ok"))
            #expect(try row.decode(Bool.self, column: "no_half"))
            #expect(try row.decode(Int.self, column: "recorded") == 1)
            // The advisory lock was released: migrating again (after the fix) works.
            try directory.write("0002_broken.sql", "CREATE TABLE fixed (id int);")
            #expect(try await Migrator(directory: directory.path).migrate(on: pool, logger: TestDatabase.logger) == ["0002_broken.sql"])
        }
    }

    @Test func migrationThatCommitsByItselfIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("0001_own_transaction.sql", "BEGIN; CREATE TABLE t (id int); COMMIT;")
        try await TestDatabase.withFreshDatabase { pool in
            let error = await #expect(throws: MigrationError.self) {
                try await Migrator(directory: directory.path).migrate(on: pool, logger: TestDatabase.logger)
            }
            #expect(error?.message.contains("BEGIN/COMMIT") == true)
            let recorded = try await pool.query("SELECT count(*) AS n FROM schema_migrations")
            #expect(try recorded.first?.decode(Int.self, column: "n") == 0)
        }
    }

    @Test func twoMigratorsAtOnceBothSucceedAndApplyEachMigrationOnce() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("0001_slow.sql", "CREATE TABLE events (id serial PRIMARY KEY, what text); SELECT pg_sleep(0.3);")
        try directory.write("0002_insert.sql", "INSERT INTO events (what) VALUES ('applied');")
        try await TestDatabase.withFreshDatabase { pool, configuration in
            // A second "instance" with its own pool on the same database.
            let other = PostgresPool(configuration: configuration, logger: TestDatabase.logger)
            let migrator = try Migrator(directory: directory.path)
            async let first = migrator.migrate(on: pool, logger: TestDatabase.logger)
            async let second = migrator.migrate(on: other, logger: TestDatabase.logger)
            let results: [[String]]
            do {
                results = try await [first, second]
            } catch {
                await other.close()
                throw error
            }
            await other.close()
            #expect(results.flatMap { $0 }.sorted() == ["0001_slow.sql", "0002_insert.sql"])
            #expect(results.contains([]))
            let events = try await pool.query("SELECT count(*) AS n FROM events")
            #expect(try events.first?.decode(Int.self, column: "n") == 1)
        }
    }
}
