import ArgumentParser
import BoxOffice
import BoxOfficeHTTP
import Foundation
import Hummingbird
import Logging
import Metrics
import PostgresClient
import Prometheus
import RedisClient
import ServiceLifecycle

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the HTTP API until SIGTERM or SIGINT, then finish in-flight requests and close the pools."
    )

    @Option(help: "Address to listen on (env BOXOFFICE_HOST, default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on (env BOXOFFICE_PORT, default 8080).")
    var port: Int?

    @Option(name: .customLong("jwt-secret"), help: "Secret for signing access tokens, at least 32 bytes (env BOXOFFICE_JWT_SECRET).")
    var jwtSecret: String?

    @Option(name: .customLong("hold-ttl"), help: "Seconds a seat hold lasts (env BOXOFFICE_HOLD_TTL_SECONDS, default 480).")
    var holdTTL: Int?

    @Option(name: .customLong("time-zone"), help: "The cinema's time zone, for days and time slots (env BOXOFFICE_TIMEZONE, default Europe/Berlin).")
    var timeZone: String?

    @Option(name: .customLong("time-slots"), help: "Report time slots by local start, name=HH:MM,... (env BOXOFFICE_TIME_SLOTS, default matinee=06:00,evening=17:00,late=21:00).")
    var timeSlots: String?

    @Option(name: .customLong("poster-dir"), help: "Where poster images are stored (env BOXOFFICE_POSTER_DIR, default .data/dev/posters).")
    var posterDirectory: String?

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var redis: RedisOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let settings = ServerSettings(
            host: requiredSetting(host, "BOXOFFICE_HOST") ?? "127.0.0.1",
            port: try positive(requiredSetting(port.map(String.init), "BOXOFFICE_PORT"), name: "BOXOFFICE_PORT", default: 8080, range: 1...65535)
        )
        guard let secret = requiredSetting(jwtSecret, "BOXOFFICE_JWT_SECRET") else {
            throw StartupError("BOXOFFICE_JWT_SECRET is not set: give at least 32 random bytes, e.g. export BOXOFFICE_JWT_SECRET=$(openssl rand -hex 32)")
        }
        guard secret.utf8.count >= 32 else {
            throw StartupError("BOXOFFICE_JWT_SECRET is \(secret.utf8.count) bytes; it must be at least 32 (e.g. openssl rand -hex 32)")
        }
        var domainSettings = BoxOfficeSettings()
        domainSettings.holdTTL = .seconds(try positive(requiredSetting(holdTTL.map(String.init), "BOXOFFICE_HOLD_TTL_SECONDS"), name: "BOXOFFICE_HOLD_TTL_SECONDS", default: 480, range: 30...3600))
        if let zoneName = requiredSetting(timeZone, "BOXOFFICE_TIMEZONE") {
            guard let zone = TimeZone(identifier: zoneName) else {
                throw StartupError("BOXOFFICE_TIMEZONE '\(zoneName)' is not a time zone name such as Europe/Berlin")
            }
            domainSettings.timeZone = zone
        }
        if let slots = requiredSetting(timeSlots, "BOXOFFICE_TIME_SLOTS") {
            do throws(BoxOfficeError) {
                domainSettings.timeSlots = try TimeSlots.parse(slots)
            } catch {
                throw StartupError("BOXOFFICE_TIME_SLOTS: \(error.message) Give name=HH:MM pairs, e.g. matinee=06:00,evening=17:00,late=21:00")
            }
        }
        domainSettings.posterDirectory = requiredSetting(posterDirectory, "BOXOFFICE_POSTER_DIR") ?? domainSettings.posterDirectory
        domainSettings.adminEmail = requiredSetting(nil, "BOXOFFICE_ADMIN_EMAIL")
        domainSettings.adminPassword = requiredSetting(nil, "BOXOFFICE_ADMIN_PASSWORD")
        let postgresConfiguration = try database.configuration()
        let redisConfiguration = try redis.configuration()
        let logger = try logging.bootstrap()

        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let postgres = PostgresPool(configuration: postgresConfiguration, logger: logger)
        let redisClient = RedisClient(configuration: redisConfiguration, logger: logger)
        do {
            try await checkPostgres(postgres, postgresConfiguration)
            do {
                try await redisClient.ping()
            } catch {
                throw StartupError("cannot reach Redis at \(redisConfiguration.address) (\(error)); start it (scripts/run services) or set BOXOFFICE_REDIS_URL")
            }
            if let email = domainSettings.adminEmail, let password = domainSettings.adminPassword {
                let outcome = try await ensureAdmin(email: email, password: password, postgres: postgres, settings: domainSettings)
                logger.info("\(outcome)")
            }
        } catch {
            await postgres.close()
            await redisClient.close()
            throw error
        }

        let app = buildApplication(
            AppDependencies(
                redis: redisClient,
                postgres: postgres,
                metrics: registry,
                tokens: await AccessTokens(secret: secret),
                settings: domainSettings
            ),
            settings: settings,
            logger: logger
        )
        try await app.runService()
    }
}
