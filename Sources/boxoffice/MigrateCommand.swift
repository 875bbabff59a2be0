import ArgumentParser
import Logging
import PostgresClient

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the migrations not applied yet, in order; safe to run from several instances at once."
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var migrations: MigrationOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = try logging.bootstrap()
        let migrator = try migrations.migrator()
        let configuration = try database.configuration()
        let pool = PostgresPool(configuration: configuration, logger: logger)
        do {
            try await checkPostgres(pool, configuration)
            let applied = try await migrator.migrate(on: pool, logger: logger)
            print(applied.isEmpty ? "The database is up to date." : "Applied: \(applied.joined(separator: ", "))")
            await pool.close()
        } catch {
            await pool.close()
            throw error
        }
    }
}

/// Fails with one line naming PostgreSQL, where it was looked for, and how to fix it.
func checkPostgres(_ pool: PostgresPool, _ configuration: PostgresConfiguration) async throws {
    do {
        try await pool.ping()
    } catch {
        throw StartupError("""
            cannot reach PostgreSQL at \(configuration.host):\(configuration.port)/\(configuration.database) \
            (\(error)); start it (scripts/run services) or set BOXOFFICE_DATABASE_URL
            """)
    }
}
