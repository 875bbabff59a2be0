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

    @Option(name: .customLong("public-dir"), help: "The web client's folder, served at / (env BOXOFFICE_PUBLIC_DIR, default public).")
    var publicDirectory: String?

    @Option(name: .customLong("lua-dir"), help: "The repository's lua/ folder with the Redis scripts (env BOXOFFICE_LUA_DIR, default lua).")
    var luaDirectory: String?

    @Option(name: .customLong("time-slots"), help: "Report time slots by local start, name=HH:MM,... (env BOXOFFICE_TIME_SLOTS, default matinee=06:00,evening=17:00,late=21:00).")
    var timeSlots: String?

    @Option(name: .customLong("poster-dir"), help: "Where poster images are stored (env BOXOFFICE_POSTER_DIR, default .data/dev/posters).")
    var posterDirectory: String?

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var redis: RedisOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        var trustedProxies: [IPAddressRange] = []
        if let list = requiredSetting(nil, "BOXOFFICE_TRUSTED_PROXIES") {
            switch ClientAddressResolver.parse(list) {
            case .success(let ranges): trustedProxies = ranges
            case .failure(let invalid):
                throw StartupError("BOXOFFICE_TRUSTED_PROXIES: '\(invalid.entry)' is not an IP address or CIDR block (e.g. 10.0.0.0/8,::1)")
            }
        }
        let settings = ServerSettings(
            host: requiredSetting(host, "BOXOFFICE_HOST") ?? "127.0.0.1",
            port: try positive(requiredSetting(port.map(String.init), "BOXOFFICE_PORT"), name: "BOXOFFICE_PORT", default: 8080, range: 1...65535),
            openAPIPath: requiredSetting(nil, "BOXOFFICE_OPENAPI_PATH") ?? "openapi.yaml",
            publicDirectory: requiredSetting(publicDirectory, "BOXOFFICE_PUBLIC_DIR") ?? "public",
            trustedProxies: trustedProxies,
            metricsToken: requiredSetting(nil, "BOXOFFICE_METRICS_TOKEN")
        )
        if let token = settings.metricsToken, token.utf8.count < 16 {
            throw StartupError("BOXOFFICE_METRICS_TOKEN is \(token.utf8.count) bytes; give at least 16 random bytes (e.g. openssl rand -hex 16)")
        }
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
        domainSettings.maxSeatsPerUser = try positive(requiredSetting(nil, "BOXOFFICE_MAX_SEATS_PER_USER"), name: "BOXOFFICE_MAX_SEATS_PER_USER", default: 10, range: 1...100)
        domainSettings.holdAttemptsPerSecond = try positive(requiredSetting(nil, "BOXOFFICE_HOLD_ATTEMPTS_PER_SECOND"), name: "BOXOFFICE_HOLD_ATTEMPTS_PER_SECOND", default: 10, range: 1...10_000)
        domainSettings.readinessTimeout = .milliseconds(try positive(requiredSetting(nil, "BOXOFFICE_READY_TIMEOUT_MS"), name: "BOXOFFICE_READY_TIMEOUT_MS", default: 500, range: 50...10_000))
        domainSettings.seatMapMaxAge = .milliseconds(try positive(requiredSetting(nil, "BOXOFFICE_SEAT_MAP_MAX_AGE_MS"), name: "BOXOFFICE_SEAT_MAP_MAX_AGE_MS", default: 100, range: 0...5_000))
        domainSettings.liveFrame = .milliseconds(try positive(requiredSetting(nil, "BOXOFFICE_LIVE_FRAME_MS"), name: "BOXOFFICE_LIVE_FRAME_MS", default: 50, range: 0...1_000))
        domainSettings.paymentWindow = .seconds(try positive(requiredSetting(nil, "BOXOFFICE_PAYMENT_WINDOW_SECONDS"), name: "BOXOFFICE_PAYMENT_WINDOW_SECONDS", default: 600, range: 30...7200))
        domainSettings.pendingBookingTimeout = .seconds(try positive(requiredSetting(nil, "BOXOFFICE_PENDING_TIMEOUT_SECONDS"), name: "BOXOFFICE_PENDING_TIMEOUT_SECONDS", default: 1800, range: 60...86_400))
        domainSettings.cancellationCutoff = .seconds(try positive(requiredSetting(nil, "BOXOFFICE_CANCELLATION_CUTOFF_MINUTES"), name: "BOXOFFICE_CANCELLATION_CUTOFF_MINUTES", default: 60, range: 0...10_080) * 60)
        if let secret = requiredSetting(nil, "BOXOFFICE_PAYMENT_SECRET") {
            guard secret.utf8.count >= 32 else {
                throw StartupError("BOXOFFICE_PAYMENT_SECRET is \(secret.utf8.count) bytes; it must be at least 32 (the provider's callback signing secret)")
            }
            domainSettings.paymentSecret = secret
        }
        domainSettings.sandboxRoutesEnabled = requiredSetting(nil, "BOXOFFICE_SANDBOX_ROUTES") == "1"
        switch requiredSetting(nil, "BOXOFFICE_GROUP_COMMIT") {
        case nil, "1": domainSettings.groupCommit = true
        case "0": domainSettings.groupCommit = false
        case let other?: throw StartupError("BOXOFFICE_GROUP_COMMIT is '\(other)'; give 1 (batch payment callbacks, the default) or 0")
        }
        domainSettings.groupCommitMaxBatch = try positive(requiredSetting(nil, "BOXOFFICE_GROUP_COMMIT_MAX_BATCH"), name: "BOXOFFICE_GROUP_COMMIT_MAX_BATCH", default: 64, range: 1...1_000)
        domainSettings.groupCommitInFlight = try positive(requiredSetting(nil, "BOXOFFICE_GROUP_COMMIT_IN_FLIGHT"), name: "BOXOFFICE_GROUP_COMMIT_IN_FLIGHT", default: 2, range: 1...64)
        domainSettings.loginThrottle = LoginThrottlePolicy(
            clientAccountLimit: try positive(requiredSetting(nil, "BOXOFFICE_LOGIN_CLIENT_ACCOUNT_LIMIT"), name: "BOXOFFICE_LOGIN_CLIENT_ACCOUNT_LIMIT", default: 5, range: 1...1_000),
            clientLimit: try positive(requiredSetting(nil, "BOXOFFICE_LOGIN_CLIENT_LIMIT"), name: "BOXOFFICE_LOGIN_CLIENT_LIMIT", default: 50, range: 1...100_000),
            accountDelayAfter: try positive(requiredSetting(nil, "BOXOFFICE_LOGIN_ACCOUNT_DELAY_AFTER"), name: "BOXOFFICE_LOGIN_ACCOUNT_DELAY_AFTER", default: 10, range: 1...100_000),
            window: .seconds(try positive(requiredSetting(nil, "BOXOFFICE_LOGIN_WINDOW_SECONDS"), name: "BOXOFFICE_LOGIN_WINDOW_SECONDS", default: 900, range: 10...86_400))
        )
        domainSettings.queueJoinsPerAddressPerSecond = try positive(requiredSetting(nil, "BOXOFFICE_QUEUE_JOINS_PER_ADDRESS"), name: "BOXOFFICE_QUEUE_JOINS_PER_ADDRESS", default: 5, range: 1...1_000_000)
        domainSettings.queueAdmissionsPerSecond = try positive(requiredSetting(nil, "BOXOFFICE_QUEUE_ADMISSIONS_PER_SECOND"), name: "BOXOFFICE_QUEUE_ADMISSIONS_PER_SECOND", default: 50, range: 1...100_000)
        if let limit = requiredSetting(nil, "BOXOFFICE_QUEUE_MAX_ACTIVE") {
            domainSettings.queueMaxActive = try positive(limit, name: "BOXOFFICE_QUEUE_MAX_ACTIVE", default: 1, range: 1...1_000_000)
        }
        domainSettings.queueInactivity = .seconds(try positive(requiredSetting(nil, "BOXOFFICE_QUEUE_INACTIVITY_SECONDS"), name: "BOXOFFICE_QUEUE_INACTIVITY_SECONDS", default: 120, range: 10...3_600))
        // Passes are signed with a key derived from this (never with the JWT key itself).
        domainSettings.queuePassSecret = requiredSetting(nil, "BOXOFFICE_QUEUE_PASS_SECRET") ?? secret
        domainSettings.webhooksAllowPrivateTargets = requiredSetting(nil, "BOXOFFICE_WEBHOOKS_ALLOW_PRIVATE") == "1"
        domainSettings.webhookTimeout = .seconds(try positive(requiredSetting(nil, "BOXOFFICE_WEBHOOK_TIMEOUT_SECONDS"), name: "BOXOFFICE_WEBHOOK_TIMEOUT_SECONDS", default: 5, range: 1...60))
        domainSettings.webhookDelivery = DeliveryPolicy(
            firstWait: .seconds(try positive(requiredSetting(nil, "BOXOFFICE_WEBHOOK_FIRST_RETRY_SECONDS"), name: "BOXOFFICE_WEBHOOK_FIRST_RETRY_SECONDS", default: 5, range: 1...3_600)),
            longestWait: .seconds(3600),
            maxAttempts: try positive(requiredSetting(nil, "BOXOFFICE_WEBHOOK_MAX_ATTEMPTS"), name: "BOXOFFICE_WEBHOOK_MAX_ATTEMPTS", default: 10, range: 1...100)
        )
        if let url = requiredSetting(nil, "BOXOFFICE_SMTP_URL") {
            guard url.hasPrefix("smtp://") || url.hasPrefix("smtps://") else {
                throw StartupError("BOXOFFICE_SMTP_URL is '\(url)'; give smtp://host:port or smtps://host:port")
            }
            domainSettings.smtp = SMTPSettings(
                url: url, requireTLS: requiredSetting(nil, "BOXOFFICE_SMTP_STARTTLS") == "1",
                username: requiredSetting(nil, "BOXOFFICE_SMTP_USERNAME"), password: requiredSetting(nil, "BOXOFFICE_SMTP_PASSWORD"),
                from: requiredSetting(nil, "BOXOFFICE_MAIL_FROM") ?? "BoxOffice <tickets@boxoffice.local>"
            )
        }
        domainSettings.adminEmail = requiredSetting(nil, "BOXOFFICE_ADMIN_EMAIL")
        domainSettings.adminPassword = requiredSetting(nil, "BOXOFFICE_ADMIN_PASSWORD")
        if requiredSetting(nil, "BOXOFFICE_FAULT_EXIT_AFTER_SALE_COMMIT") == "1" {
            // Fault runs: the process ends like a kill -9 right after a sale's commit, before
            // Redis is told (the e2e crash check). Never set in production.
            domainSettings.afterSaleCommit = { _exit(137) }
        }
        let postgresConfiguration = try database.configuration()
        let reportsConfiguration = try database.reportsConfiguration()
        let redisConfiguration = try redis.configuration()
        let logger = try logging.bootstrap()
        if domainSettings.sandboxRoutesEnabled {
            logger.warning("BOXOFFICE_SANDBOX_ROUTES=1: POST /sandbox/payments/{id} lets a payment's owner pay it without any provider; for development only")
        }
        if domainSettings.afterSaleCommit != nil {
            logger.critical("BOXOFFICE_FAULT_EXIT_AFTER_SALE_COMMIT=1: this process exits right after the first sale it commits")
        }

        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let scripts: HoldScripts
        do {
            scripts = try HoldScripts(directory: requiredSetting(luaDirectory, "BOXOFFICE_LUA_DIR") ?? "lua")
        } catch {
            throw StartupError(error.message)
        }
        let postgres = PostgresPool(configuration: postgresConfiguration, logger: logger)
        let reportsPostgres = reportsConfiguration.map { PostgresPool(configuration: $0, logger: logger) }
        let redisClient = RedisClient(configuration: redisConfiguration, logger: logger)
        do {
            try await checkPostgres(postgres, postgresConfiguration)
            if let reportsPostgres, let reportsConfiguration {
                do {
                    try await reportsPostgres.ping()
                } catch {
                    throw StartupError("cannot reach the reports database (BOXOFFICE_REPORTS_DATABASE_URL) at \(reportsConfiguration.host):\(reportsConfiguration.port) (\(error))")
                }
            }
            do {
                try await redisClient.ping()
            } catch {
                throw StartupError("cannot reach Redis at \(redisConfiguration.address) (\(error)); start it (scripts/run services) or set BOXOFFICE_REDIS_URL")
            }
            try await redisClient.load(scripts.all)
            // The default cinema keeps following BOXOFFICE_TIMEZONE until an admin edits it.
            try await CinemaStore(postgres: postgres).adoptSettings(timeZone: domainSettings.timeZone)
            if let email = domainSettings.adminEmail, let password = domainSettings.adminPassword {
                let outcome = try await ensureAdmin(email: email, password: password, postgres: postgres, settings: domainSettings)
                logger.info("\(outcome)")
            }
        } catch {
            await postgres.close()
            await reportsPostgres?.close()
            await redisClient.close()
            throw error
        }

        let app = buildApplication(
            AppDependencies(
                redis: redisClient,
                postgres: postgres,
                metrics: registry,
                tokens: await AccessTokens(secret: secret),
                settings: domainSettings,
                scripts: scripts,
                reportsPostgres: reportsPostgres,
                logger: logger
            ),
            settings: settings,
            logger: logger
        )
        try await app.runService()
    }
}
