import Foundation
@testable import PostgresClient
import Testing

/// Query building, parameter encoding and result decoding, without a server.
@Suite struct QueryInterpolationTests {
    @Test func interpolatedValuesBecomeNumberedTextParameters() {
        let email = "ann@example.com"
        let ids = [1, 2, 3]
        let query: PostgresQuery = "SELECT * FROM users WHERE email = \(email) AND id = ANY(\(ids))"
        #expect(query.sql == "SELECT * FROM users WHERE email = $1 AND id = ANY($2)")
        #expect(query.binds == ["ann@example.com", "{1,2,3}"])
        #expect(query.bindTypeOIDs == [0, 1016])
    }

    @Test func nilOptionalBindsNullWithItsWrappedType() {
        let missing: Int? = nil
        let present: String? = "x"
        let query: PostgresQuery = "UPDATE t SET a = \(missing), b = \(present) WHERE id = \(Int32(7))"
        #expect(query.sql == "UPDATE t SET a = $1, b = $2 WHERE id = $3")
        #expect(query.binds == [nil, "x", "7"])
        #expect(query.bindTypeOIDs == [20, 0, 23])
    }

    @Test func everyScalarTypeEncodesAsPostgresText() {
        let date = Date(timeIntervalSince1970: 1_714_566_896.123456)
        let id = UUID(uuidString: "6F1C0A8E-3B7D-4C7A-9E44-0D3D2F7C1B55")!
        let query: PostgresQuery =
            "SELECT \(42), \(Int64(-9)), \(Int16(3)), \(true), \(false), \(1.5), \(Double.infinity), \(date), \(id)"
        #expect(query.binds == ["42", "-9", "3", "t", "f", "1.5", "Infinity", "2024-05-01 12:34:56.123456+00", "6f1c0a8e-3b7d-4c7a-9e44-0d3d2f7c1b55"])
        #expect(query.bindTypeOIDs == [20, 20, 21, 16, 16, 701, 701, 1184, 2950])
    }

    @Test func unescapedFragmentIsSplicedAndBindsKeepCounting() {
        let table = "showtimes"
        let query: PostgresQuery = "SELECT \(unescaped: "id, starts_at") FROM \(unescaped: table) WHERE hall_id = \(3) LIMIT \(10)"
        #expect(query.sql == "SELECT id, starts_at FROM showtimes WHERE hall_id = $1 LIMIT $2")
        #expect(query.binds == ["3", "10"])
    }

    @Test func injectionAttemptStaysAParameter() {
        let name = "x'); DROP TABLE users; --"
        let query: PostgresQuery = "INSERT INTO users (name) VALUES (\(name))"
        #expect(query.sql == "INSERT INTO users (name) VALUES ($1)")
        #expect(query.binds == [name])
    }

    @Test func literalQueryHasNoParameters() {
        let query: PostgresQuery = "SELECT 1"
        #expect(query.sql == "SELECT 1")
        #expect(query.binds.isEmpty)
        #expect(!query.isMultiStatement)
        #expect(query.description == "SELECT 1")
    }

    @Test func unsafeSQLWithoutBindsIsSentAsMultipleStatements() {
        let migration = PostgresQuery(unsafeSQL: "CREATE TABLE a (id int); CREATE TABLE b (id int);")
        #expect(migration.isMultiStatement)
        let withBinds = PostgresQuery(unsafeSQL: "SELECT $1::int + $2", binds: [1, nil])
        #expect(!withBinds.isMultiStatement)
        #expect(withBinds.binds == ["1", nil])
        #expect(withBinds.bindTypeOIDs == [20, 0])
    }
}

@Suite struct ArrayTextTests {
    @Test func arrayLiteralQuotesOnlyWhatNeedsQuoting() {
        let values = ["plain", "a b", "say \"hi\"", "back\\slash", "", "NULL", "null", "{x}", "a,b", "tab\there", "Zoë🎬"]
        #expect(
            values.postgresText
                == #"{plain,"a b","say \"hi\"","back\\slash","","NULL","null","{x}","a,b","tab"# + "\t" + #"here",Zoë🎬}"#
        )
    }

    @Test func arrayLiteralWritesNullForNilElements() {
        let values: [Int?] = [1, nil, 3]
        #expect(values.postgresText == "{1,NULL,3}")
        #expect([String?]([nil, "NULL"]).postgresText == #"{NULL,"NULL"}"#)
        #expect([Int]().postgresText == "{}")
    }

    @Test func nestedArraysBecomeMultidimensionalLiterals() {
        #expect([[1, 2], [3, 4]].postgresText == "{{1,2},{3,4}}")
        #expect([["a b"], ["c"]].postgresText == #"{{"a b"},{c}}"#)
        #expect([[Int]].postgresTypeOID == 1016)
    }

    @Test func arrayTypesCarryTheirArrayOID() {
        #expect([Int].postgresTypeOID == 1016)
        #expect([Int32].postgresTypeOID == 1007)
        #expect([Bool].postgresTypeOID == 1000)
        #expect([UUID].postgresTypeOID == 2951)
        #expect([Date].postgresTypeOID == 1185)
        #expect([String].postgresTypeOID == 0)
        #expect([Int?].postgresTypeOID == 1016)
    }

    @Test func arrayTextDecodesQuotedUnquotedAndNullElements() {
        #expect([Int](postgresText: "{1,2,3}") == [1, 2, 3])
        #expect([Int?](postgresText: "{1,NULL,3}") == [1, nil, 3])
        #expect(
            [String?](postgresText: #"{plain,"a b","say \"hi\"","back\\slash",NULL,"NULL",""}"#)
                == ["plain", "a b", "say \"hi\"", "back\\slash", nil, "NULL", ""]
        )
        #expect([Bool](postgresText: "{t,f}") == [true, false])
        #expect([String](postgresText: "{}") == [])
        #expect([String](postgresText: #"{"{x}","a,b"}"#) == ["{x}", "a,b"])
    }

    @Test func nullElementNeedsAnOptionalElementType() {
        #expect([Int](postgresText: "{1,NULL}") == nil)
    }

    @Test func arrayTextWithBoundsOrSeveralDimensionsDecodes() {
        #expect([Int](postgresText: "[0:2]={7,8,9}") == [7, 8, 9])
        #expect([[Int]](postgresText: "{{1,2},{3,4}}") == [[1, 2], [3, 4]])
        #expect([[String]](postgresText: #"{{"a}b",c},{d,"e\"f"}}"#) == [["a}b", "c"], ["d", "e\"f"]])
    }

    @Test func malformedArrayTextDoesNotDecode() {
        for text in ["{1,2", "1,2}", #"{"a}"#, "{1,,2}", "{1}x", "", "{a\"b}"] {
            #expect([String](postgresText: text) == nil, "\(text)")
        }
        #expect([Int](postgresText: "{1,x}") == nil)
    }

    @Test func arrayLiteralRoundTripsThroughItsDecoder() {
        let values: [String?] = ["", " lead", "trail ", "\"", "\\", "\\\"", "{", "}", ",", "NULL", nil, "ünï ✓", "a\nb"]
        #expect([String?](postgresText: values.postgresText!) == values)
    }
}

@Suite struct TimestampTests {
    @Test func dateEncodesAsUTCWithMicroseconds() {
        #expect(Date(timeIntervalSince1970: 1_714_566_896.123456).postgresText == "2024-05-01 12:34:56.123456+00")
        #expect(Date(timeIntervalSince1970: 0).postgresText == "1970-01-01 00:00:00.000000+00")
        #expect(Date(timeIntervalSince1970: -0.5).postgresText == "1969-12-31 23:59:59.500000+00")
        #expect(Date(timeIntervalSince1970: 951_782_400).postgresText == "2000-02-29 00:00:00.000000+00")
    }

    @Test func timestamptzTextDecodesWithAnyOffset() throws {
        let expected = Date(timeIntervalSince1970: 1_714_566_896.123456)
        for text in [
            "2024-05-01 12:34:56.123456+00",
            "2024-05-01 14:34:56.123456+02",
            "2024-05-01 18:04:56.123456+05:30",
            "2024-05-01 07:34:56.123456-05",
            "2024-05-01T12:34:56.123456Z",
        ] {
            let date = try #require(Date(postgresText: text), "\(text)")
            #expect(microseconds(date) == microseconds(expected), "\(text)")
        }
        #expect(Date(postgresText: "2024-05-01 12:34:56+00").map(microseconds) == 1_714_566_896_000_000)
        #expect(Date(postgresText: "2024-05-01 12:34:56.5").map(microseconds) == 1_714_566_896_500_000)
        #expect(Date(postgresText: "2024-05-01").map(microseconds) == 1_714_521_600_000_000)
        #expect(Date(postgresText: "infinity") == .distantFuture)
    }

    @Test func malformedTimestampDoesNotDecode() {
        for text in ["", "2024-13-01 00:00:00+00", "2024-05-01 25:00:00+00", "2024-05-01 12:34", "yesterday", "2024-05-01 12:34:56+00 extra"] {
            #expect(Date(postgresText: text) == nil, "\(text)")
        }
    }

    @Test func dateRoundTripsAtMicrosecondPrecision() throws {
        for seconds in [0, 1_714_566_896.123456, -1_234_567_890.654321, 4_102_444_799.999999, 253_402_300_799.000001, -62_135_596_800] {
            let date = Date(timeIntervalSince1970: seconds)
            let decoded = try #require(Date(postgresText: date.postgresText!))
            #expect(microseconds(decoded) == microseconds(date), "\(date.postgresText!)")
        }
    }

    @Test func yearsBeforeOneUseTheBCSuffix() throws {
        let date = try #require(Date(postgresText: "0044-03-15 12:00:00+00 BC"))
        #expect(date.postgresText == "0044-03-15 12:00:00.000000+00 BC")
    }

    private func microseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }
}

@Suite struct ScalarDecodingTests {
    @Test func scalarsDecodeFromServerText() {
        #expect(Int(postgresText: "-42") == -42)
        #expect(Int32(postgresText: "2147483647") == .max)
        #expect(Int16(postgresText: "40000") == nil)
        #expect(Bool(postgresText: "t") == true)
        #expect(Bool(postgresText: "f") == false)
        #expect(Bool(postgresText: "maybe") == nil)
        #expect(Double(postgresText: "-Infinity") == -.infinity)
        #expect(Double(postgresText: "NaN")?.isNaN == true)
        #expect(Double(postgresText: "1e-05") == 0.00001)
        #expect(UUID(postgresText: "6f1c0a8e-3b7d-4c7a-9e44-0d3d2f7c1b55") == UUID(uuidString: "6F1C0A8E-3B7D-4C7A-9E44-0D3D2F7C1B55"))
        #expect(Int?.postgresNull == .some(nil))
        #expect(Int.postgresNull == nil)
    }

    @Test func decodingNullIntoNonOptionalNamesColumnAndType() throws {
        let rows = PostgresRows(columns: ["id", "email"], values: ["1", nil], rowCount: 1, affectedRows: 1, commandTag: "SELECT 1")
        let row = try #require(rows.first)
        #expect(try row.decode(Int.self, column: "id") == 1)
        #expect(try row.decode(String?.self, column: "email") == nil)
        let error = #expect(throws: PostgresError.self) { try row.decode(String.self, column: "email") }
        #expect(error?.code == .decoding)
        #expect(error?.description.contains("\"email\"") == true)
        #expect(error?.description.contains("String") == true)
    }

    @Test func decodingBadTextNamesColumnAndTypeButNotTheValue() throws {
        let rows = PostgresRows(columns: ["seats"], values: ["secret-text"], rowCount: 1, affectedRows: 1, commandTag: "SELECT 1")
        let row = try #require(rows.first)
        let error = #expect(throws: PostgresError.self) { try row.decode(Int.self, column: "seats") }
        #expect(error?.code == .decoding)
        #expect(error?.description.contains("\"seats\"") == true)
        #expect(error?.description.contains("Int") == true)
        #expect(error?.description.contains("secret-text") == false)
        #expect(throws: PostgresError.self) { try row.decode(Int.self, column: "missing") }
        #expect(throws: PostgresError.self) { try row.decode(Int.self, at: 3) }
    }

    @Test func rowsIterateInOrder() throws {
        let rows = PostgresRows(columns: ["n"], values: ["1", "2", "3"], rowCount: 3, affectedRows: 3, commandTag: "SELECT 3")
        #expect(try rows.map { try $0.decode(Int.self, at: 0) } == [1, 2, 3])
        #expect(rows.count == 3)
        #expect(rows.columns == ["n"])
        #expect(rows[1]["n"] == "2")
    }
}

@Suite struct ConfigurationTests {
    @Test func urlGivesEveryPart() throws {
        let configuration = try PostgresConfiguration(url: "postgres://boxoffice:secret@db.internal:6543/tickets?sslmode=disable")
        #expect(configuration.host == "db.internal")
        #expect(configuration.port == 6543)
        #expect(configuration.user == "boxoffice")
        #expect(configuration.password == "secret")
        #expect(configuration.database == "tickets")
        #expect(configuration.sslMode == "disable")
        #expect(configuration.maxConnections == 10)
        #expect(configuration.acquireTimeout == .seconds(5))
        #expect(configuration.connectTimeout == 5)
        #expect(configuration.applicationName == "boxoffice")
    }

    @Test func urlIsPercentDecodedAndPortDefaultsTo5432() throws {
        let configuration = try PostgresConfiguration(url: "postgresql://b%C3%B6x:p%40ss%2Fw%3Ard%25@localhost/my%20db")
        #expect(configuration.user == "böx")
        #expect(configuration.password == "p@ss/w:rd%")
        #expect(configuration.port == 5432)
        #expect(configuration.database == "my db")
    }

    @Test func unencodedAtSignInPasswordStillParses() throws {
        let configuration = try PostgresConfiguration(url: "postgres://u:p@ss@127.0.0.1:5499/db")
        #expect(configuration.password == "p@ss")
        #expect(configuration.host == "127.0.0.1")
    }

    @Test func ipv6HostsAreWrittenInBrackets() throws {
        let configuration = try PostgresConfiguration(url: "postgres://u@[::1]:5499/db?application_name=worker&connect_timeout=2")
        #expect(configuration.host == "::1")
        #expect(configuration.port == 5499)
        #expect(configuration.password == nil)
        #expect(configuration.applicationName == "worker")
        #expect(configuration.connectTimeout == 2)
    }

    @Test(arguments: [
        ("mysql://u:p@h/db", "postgres://"),
        ("postgres://u:topsecret@/db", "host"),
        ("postgres://u:topsecret@h:port/db", "port"),
        ("postgres://u:topsecret@h:70000/db", "port"),
        ("postgres://h:5432/db", "user"),
        ("postgres://u:topsecret@h:5432", "database"),
        ("postgres://u:topsecret@h:5432/", "database"),
        ("postgres://u:top%zzsecret@h/db", "password"),
        ("postgres://u:topsecret@h/db?sslmode=disable&pool=3", "pool"),
        ("postgres://u:topsecret@h/db?connect_timeout=soon", "connect_timeout"),
    ])
    func badURLIsRefusedNamingTheProblem(url: String, named: String) {
        let error = #expect(throws: PostgresError.self) { try PostgresConfiguration(url: url) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.description.contains(named) == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("topsecret") == false)
    }

    @Test func descriptionHidesThePassword() throws {
        let configuration = try PostgresConfiguration(url: "postgres://boxoffice:topsecret@h:1/db")
        #expect(configuration.description == "postgres://boxoffice:***@h:1/db")
    }
}

@Suite struct ErrorTests {
    @Test func sqlStatesMapToTheirCodes() {
        #expect(PostgresError.Code.forSQLState("23505") == .uniqueViolation)
        #expect(PostgresError.Code.forSQLState("23P01") == .exclusionViolation)
        #expect(PostgresError.Code.forSQLState("23503") == .foreignKeyViolation)
        #expect(PostgresError.Code.forSQLState("23514") == .checkViolation)
        #expect(PostgresError.Code.forSQLState("23502") == .notNullViolation)
        #expect(PostgresError.Code.forSQLState("40001") == .serializationFailure)
        #expect(PostgresError.Code.forSQLState("40P01") == .deadlockDetected)
        #expect(PostgresError.Code.forSQLState("42P01") == .server)
        #expect(PostgresError.Code.forSQLState(nil) == .server)
    }

    @Test func descriptionLeavesOutDetailAndQuotedInput() {
        let unique = PostgresError(
            code: .uniqueViolation, sqlState: "23505", constraint: "users_email_key", table: "users",
            detail: "Key (email)=(ann@example.com) already exists.",
            serverMessage: "duplicate key value violates unique constraint \"users_email_key\""
        )
        #expect(unique.description.contains("uniqueViolation"))
        #expect(unique.description.contains("users_email_key"))
        #expect(!unique.description.contains("ann@example.com"))

        let badInput = PostgresError(
            code: .server, sqlState: "22P02", serverMessage: "invalid input syntax for type integer: \"card 4111\""
        )
        #expect(!badInput.description.contains("4111"))
    }
}

@Suite struct MigrationFileTests {
    @Test func migrationFileNamesCarryTheirNumber() {
        #expect(Migrator.version(ofFileName: "0001_create_users.sql") == 1)
        #expect(Migrator.version(ofFileName: "0042_add-index_2.sql") == 42)
        #expect(Migrator.version(ofFileName: "create_users.sql") == nil)
        #expect(Migrator.version(ofFileName: "0001.sql") == nil)
        #expect(Migrator.version(ofFileName: "0001_.sql") == nil)
        #expect(Migrator.version(ofFileName: "0001_two words.sql") == nil)
        #expect(Migrator.version(ofFileName: "99999999999_big.sql") == nil)
    }

    @Test func migrationsAreSortedByNumberNotByName() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("0010_third.sql", "SELECT 3;")
        try directory.write("0002_second.sql", "SELECT 2;")
        try directory.write("0001_first.sql", "SELECT 1;")
        try directory.write("README.md", "not a migration")
        let migrator = try Migrator(directory: directory.path)
        #expect(migrator.migrations.map(\.name) == ["0001_first.sql", "0002_second.sql", "0010_third.sql"])
        #expect(migrator.migrations.map(\.version) == [1, 2, 10])
    }

    @Test func duplicateNumbersAreRefusedNamingBothFiles() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("0001_users.sql", "SELECT 1;")
        try directory.write("001_movies.sql", "SELECT 1;")
        let error = #expect(throws: MigrationError.self) { try Migrator(directory: directory.path) }
        #expect(error?.message.contains("0001_users.sql") == true)
        #expect(error?.message.contains("001_movies.sql") == true)
    }

    @Test func badlyNamedSQLFileIsRefused() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("0001_users.sql", "SELECT 1;")
        try directory.write("movies.sql", "SELECT 1;")
        let error = #expect(throws: MigrationError.self) { try Migrator(directory: directory.path) }
        #expect(error?.file == "movies.sql")
        #expect(error?.message.contains("NNNN_name.sql") == true)
    }

    @Test func missingDirectoryIsRefused() {
        #expect(throws: MigrationError.self) { try Migrator(directory: "/nonexistent/migrations") }
    }

    @Test func checksumIsTheSHA256OfTheFileText() throws {
        let migration = Migration(version: 1, name: "0001_x.sql", sql: "abc")
        #expect(migration.checksum == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
