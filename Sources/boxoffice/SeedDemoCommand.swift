import ArgumentParser
import BoxOffice
import PostgresClient

struct SeedDemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed-demo",
        abstract: "Fill an empty catalogue with demo genres, movies, halls and a week of showtimes; does nothing when movies exist."
    )

    @Option(help: "How many days of showtimes, from tomorrow on.")
    var days = 7

    @Option(name: .customLong("poster-dir"), help: "Where poster images are stored (env BOXOFFICE_POSTER_DIR).")
    var posterDirectory: String?

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = try logging.bootstrap()
        let configuration = try database.configuration()
        let pool = PostgresPool(configuration: configuration, logger: logger)
        var settings = BoxOfficeSettings()
        settings.posterDirectory = requiredSetting(posterDirectory, "BOXOFFICE_POSTER_DIR") ?? settings.posterDirectory
        do {
            try await checkPostgres(pool, configuration)
            print(try await DemoData(postgres: pool, settings: settings).seed(days: days) ?? "The catalogue has movies already; nothing seeded.")
            await pool.close()
        } catch {
            await pool.close()
            throw error
        }
    }
}
