#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Crypto
public import Logging

/// One numbered SQL migration, from a file named `NNNN_name.sql`.
public struct Migration: Sendable, Hashable {
    /// The number the file name starts with; migrations apply in ascending order.
    public var version: Int
    /// The file name, for example `0001_create_users.sql`.
    public var name: String
    /// The file's text; it may hold several statements.
    public var sql: String
    /// SHA-256 of the text (hex); an applied migration must never change.
    public var checksum: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = SHA256.hash(data: Array(sql.utf8)).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}

/// Why migrations could not be read or applied.
public struct MigrationError: Error, Sendable, CustomStringConvertible {
    /// The migration file concerned, when there is one.
    public var file: String?
    public var message: String
    /// The database error that made a migration fail.
    public var underlying: PostgresError?

    public init(file: String? = nil, message: String, underlying: PostgresError? = nil) {
        self.file = file
        self.message = message
        self.underlying = underlying
    }

    public var description: String { "MigrationError: \(self.message)" }
}

/// Applies numbered plain-SQL migrations in order and records them in `schema_migrations`.
///
/// - Each migration runs in its own transaction together with its `schema_migrations` row, so
///   it applies completely or not at all (statements that cannot run in a transaction, such as
///   `CREATE INDEX CONCURRENTLY`, are therefore not allowed in migration files).
/// - The whole run holds a PostgreSQL advisory lock on one connection, so instances migrating
///   at the same time take turns; the later ones find the migrations applied.
/// - A migration that was applied and then edited is refused: add a new migration instead.
public struct Migrator: Sendable {
    /// The key of the advisory lock held while migrating ("BoxOffice" in ASCII, truncated).
    static let advisoryLockKey: Int64 = 0x426F_784F_6666_6963

    /// The migrations, by ascending version.
    public let migrations: [Migration]

    /// Reads the `NNNN_name.sql` files of `directory` (other files are ignored). Throws for a
    /// `.sql` file with another name, for two files with the same number, and for unreadable files.
    public init(directory: String) throws {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw MigrationError(message: "cannot read the migrations directory \(directory): \(error)")
        }
        var migrations: [Migration] = []
        for name in names where name.hasSuffix(".sql") {
            guard let version = Self.version(ofFileName: name) else {
                throw MigrationError(
                    file: name,
                    message: "migration file \(name) is not named NNNN_name.sql (a number, an underscore, a name of letters, digits, _ or -)"
                )
            }
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else {
                throw MigrationError(file: name, message: "cannot read migration file \(path)")
            }
            guard let sql = String(validating: data, as: UTF8.self) else {
                throw MigrationError(file: name, message: "migration file \(name) is not valid UTF-8")
            }
            migrations.append(Migration(version: version, name: name, sql: sql))
        }
        try self.init(migrations: migrations)
    }

    /// Migrations given in code. Throws when two share a version.
    public init(migrations: [Migration]) throws {
        let sorted = migrations.sorted { ($0.version, $0.name) < ($1.version, $1.name) }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.version == next.version {
            throw MigrationError(
                file: next.name,
                message: "migrations \(previous.name) and \(next.name) have the same number \(next.version); renumber one of them"
            )
        }
        self.migrations = sorted
    }

    /// Applies the migrations not applied yet, in order, and returns their names. Applying
    /// again changes nothing and returns `[]`.
    public func migrate(on pool: PostgresPool, logger: Logger) async throws -> [String] {
        try await pool.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.advisoryLockKey))")
            do {
                let applied = try await self.applyPending(on: connection, logger: logger)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))")
                return applied
            } catch {
                // If the connection broke, the server released the lock with the session.
                _ = try? await connection.queryIgnoringCancellation("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))")
                throw error
            }
        }
    }

    private func applyPending(on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        var applied: [Int: (name: String, checksum: String)] = [:]
        for row in try await connection.query("SELECT version, name, checksum FROM schema_migrations") {
            applied[try row.decode(Int.self, column: "version")] = (try row.decode(String.self, column: "name"), try row.decode(String.self, column: "checksum"))
        }
        let known = Set(self.migrations.map(\.version))
        for (version, record) in applied.sorted(by: { $0.key < $1.key }) where !known.contains(version) {
            logger.warning("the database has a migration this build does not know", metadata: ["migration": "\(record.name)", "version": "\(version)"])
        }

        var appliedNow: [String] = []
        for migration in self.migrations {
            if let record = applied[migration.version] {
                guard record.checksum == migration.checksum else {
                    throw MigrationError(
                        file: migration.name,
                        message: "migration \(migration.name) was changed after it was applied (as \(record.name)); "
                            + "applied migrations must not be edited: restore it and add a new migration instead"
                    )
                }
                continue
            }
            logger.info("applying migration", metadata: ["migration": "\(migration.name)"])
            try await connection.query("BEGIN")
            do {
                try await connection.query(PostgresQuery(unsafeSQL: migration.sql))
                guard connection.isInTransaction else {
                    throw MigrationError(
                        file: migration.name,
                        message: "migration \(migration.name) ended the transaction itself (COMMIT or ROLLBACK in the file), "
                            + "so it was not recorded; remove BEGIN/COMMIT from it: each migration already runs in its own transaction"
                    )
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (\(Int32(migration.version)), \(migration.name), \(migration.checksum))"
                )
                try await connection.query("COMMIT")
            } catch let error as MigrationError {
                _ = try? await connection.queryIgnoringCancellation("ROLLBACK")
                throw error
            } catch {
                _ = try? await connection.queryIgnoringCancellation("ROLLBACK")
                let postgresError = error as? PostgresError
                let reason = postgresError.map { error in
                    [error.sqlState.map { "SQLSTATE \($0)" }, error.serverMessage ?? error.message].compactMap { $0 }.joined(separator: ": ")
                } ?? "\(error)"
                throw MigrationError(
                    file: migration.name,
                    message: "migration \(migration.name) failed and was rolled back: \(reason)",
                    underlying: postgresError
                )
            }
            appliedNow.append(migration.name)
        }
        return appliedNow
    }

    /// The number of `NNNN_name.sql`, or nil when the name has another shape.
    static func version(ofFileName fileName: String) -> Int? {
        guard fileName.hasSuffix(".sql") else { return nil }
        let stem = fileName.dropLast(4)
        guard let underscore = stem.firstIndex(of: "_") else { return nil }
        let number = stem[..<underscore]
        let name = stem[stem.index(after: underscore)...]
        guard !number.isEmpty, number.allSatisfy(\.isASCII), number.allSatisfy(\.isNumber),
            !name.isEmpty,
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
        else { return nil }
        guard let version = Int(number), version <= Int(Int32.max) else { return nil }  // schema_migrations.version is integer
        return version
    }
}
