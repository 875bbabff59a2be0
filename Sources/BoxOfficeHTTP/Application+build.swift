public import BoxOffice
public import Hummingbird
import HummingbirdWebSocket
public import Logging
public import PostgresClient
public import Prometheus
public import RedisClient
import ServiceLifecycle

/// What the HTTP layer needs from the outside world; `main` and the tests both make one.
public struct AppDependencies: Sendable {
    public var redis: RedisClient
    public var postgres: PostgresPool
    /// Where staff reports read: a streaming replica (`BOXOFFICE_REPORTS_DATABASE_URL`) whose
    /// figures may lag the primary by its replication delay, or the primary itself.
    public var reportsPostgres: PostgresPool
    public var metrics: PrometheusCollectorRegistry
    public var tokens: AccessTokens
    public var settings: BoxOfficeSettings
    public var holds: HoldService
    /// Fans availability deltas out to this instance's live clients.
    public var broadcaster: AvailabilityBroadcaster
    public var checkout: CheckoutService
    public var bookings: BookingService
    /// Waiting rooms in front of on-sales.
    public var waitingRoom: WaitingRoom
    /// Pushes waiting people's places to their streams.
    public var queueWatcher: QueueWatcher
    /// The notifications outbox and its webhooks.
    public var notifications: NotificationStore
    public var logger: Logger

    public init(
        redis: RedisClient,
        postgres: PostgresPool,
        metrics: PrometheusCollectorRegistry,
        tokens: AccessTokens,
        settings: BoxOfficeSettings,
        scripts: HoldScripts,
        paymentProvider: any PaymentProvider = SandboxPaymentProvider(),
        reportsPostgres: PostgresPool? = nil,
        logger: Logger
    ) {
        self.redis = redis
        self.postgres = postgres
        self.reportsPostgres = reportsPostgres ?? postgres
        self.metrics = metrics
        self.tokens = tokens
        self.settings = settings
        self.holds = HoldService(redis: redis, postgres: postgres, scripts: scripts, settings: settings, logger: logger)
        self.broadcaster = AvailabilityBroadcaster(redis: redis, frame: settings.liveFrame, logger: logger)
        self.checkout = CheckoutService(
            postgres: postgres, holds: holds, provider: paymentProvider, settings: settings, logger: logger
        )
        self.bookings = BookingService(postgres: postgres, checkout: checkout, settings: settings, logger: logger)
        self.notifications = NotificationStore(postgres: postgres)
        self.waitingRoom = WaitingRoom(redis: redis, scripts: scripts.queue, layouts: holds.layouts, settings: settings, logger: logger)
        self.queueWatcher = QueueWatcher(room: waitingRoom, logger: logger)
        self.logger = logger
    }
}

public struct ServerSettings: Sendable {
    public var host: String
    public var port: Int
    /// The OpenAPI document served at `/openapi.yaml`.
    public var openAPIPath: String
    /// The web client's folder, served at `/` for paths no route answers.
    public var publicDirectory: String
    /// Reverse proxies whose `X-Forwarded-For` names the client (for login throttling).
    public var trustedProxies: [IPAddressRange]
    /// A bearer token `/metrics` requires; without one it answers loopback clients only.
    public var metricsToken: String?

    public init(
        host: String = "127.0.0.1", port: Int = 8080, openAPIPath: String = "openapi.yaml", publicDirectory: String = "public",
        trustedProxies: [IPAddressRange] = [], metricsToken: String? = nil
    ) {
        self.host = host
        self.port = port
        self.openAPIPath = openAPIPath
        self.publicDirectory = publicDirectory
        self.trustedProxies = trustedProxies
        self.metricsToken = metricsToken
    }
}

/// The router with every route and middleware; one factory for `serve` and the tests.
public func buildRouter(_ dependencies: AppDependencies, settings: ServerSettings = ServerSettings()) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    let methods = MethodNotAllowedMiddleware<AppRequestContext>()
    // Outermost first: every response carries its request id; metrics and the log see the
    // final status, because problems are made innermost.
    router.addMiddleware {
        RequestIDMiddleware()
        MetricsMiddleware()
        LogRequestsMiddleware(.debug)
        PublicFilesMiddleware(directory: settings.publicDirectory)
        ProblemMiddleware()
        methods
        AuthMiddleware(tokens: dependencies.tokens)
    }
    HealthController(probe: ReadinessProbe(
        redis: dependencies.redis, postgres: dependencies.postgres, timeout: dependencies.settings.readinessTimeout
    ))
        .addRoutes(to: router)
    MetricsController(registry: dependencies.metrics, token: settings.metricsToken).addRoutes(to: router)
    OpenAPIController(path: settings.openAPIPath).addRoutes(to: router)
    // Feature controllers: one line each.
    AccountsController(dependencies: dependencies, clientAddresses: ClientAddressResolver(trustedProxies: settings.trustedProxies))
        .addRoutes(to: router)
    CatalogueController(dependencies).addRoutes(to: router)
    CinemasController(cinemas: CinemaStore(postgres: dependencies.postgres)).addRoutes(to: router)
    HoldsController(holds: dependencies.holds, broadcaster: dependencies.broadcaster, waitingRoom: dependencies.waitingRoom)
        .addRoutes(to: router)
    WebhooksController(
        store: dependencies.notifications, targets: WebhookTargets(allowPrivate: dependencies.settings.webhooksAllowPrivateTargets)
    ).addRoutes(to: router)
    QueueController(
        waitingRoom: dependencies.waitingRoom, watcher: dependencies.queueWatcher, showtimes: ShowtimeStore(postgres: dependencies.postgres),
        clientAddresses: ClientAddressResolver(trustedProxies: settings.trustedProxies)
    ).addRoutes(to: router)
    BookingsController(
        checkout: dependencies.checkout, bookings: dependencies.bookings, waitingRoom: dependencies.waitingRoom,
        sandboxRoutesEnabled: dependencies.settings.sandboxRoutesEnabled
    ).addRoutes(to: router)
    SchedulingRoutes.add(to: router, dependencies)
    ReportsController(dependencies).addRoutes(to: router)
    methods.learn(router.routes)
    return router
}

/// The application: the HTTP server, and the clients as services that shut down after it.
public func buildApplication(
    _ dependencies: AppDependencies,
    settings: ServerSettings,
    logger: Logger
) -> some ApplicationProtocol {
    var app = Application(
        router: buildRouter(dependencies, settings: settings),
        // Upgrade requests go to the live socket's router; every other request to the main one.
        server: .http1WebSocketUpgrade(webSocketRouter: LiveSocket(dependencies: dependencies).router()),
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "BoxOffice"),
        logger: logger
    )
    // Services stop in reverse order: the workers before the clients they use.
    app.addServices(dependencies.postgres)
    if dependencies.reportsPostgres !== dependencies.postgres { app.addServices(dependencies.reportsPostgres) }
    app.addServices(
        dependencies.redis,
        dependencies.broadcaster,
        dependencies.holds.expiryWorker(logger: dependencies.logger),
        AvailabilityOutboxWorker(
            holds: dependencies.holds, staleAfter: dependencies.settings.availabilityRepairAfter, logger: dependencies.logger
        ),
        PendingBookingCloser(
            postgres: dependencies.postgres, holds: dependencies.holds,
            timeout: dependencies.settings.pendingBookingTimeout, logger: dependencies.logger
        ),
        RefundSweeper(refunds: dependencies.checkout.refunds, logger: dependencies.logger),
        dependencies.waitingRoom.admitter(),
        dependencies.queueWatcher,
        WebhookDeliverer(
            store: dependencies.notifications, policy: dependencies.settings.webhookDelivery,
            targets: WebhookTargets(allowPrivate: dependencies.settings.webhooksAllowPrivateTargets),
            timeout: dependencies.settings.webhookTimeout, logger: dependencies.logger
        )
    )
    if let smtp = dependencies.settings.smtp {
        app.addServices(EmailDeliverer(
            postgres: dependencies.postgres, mailer: SMTPMailer(settings: smtp), policy: dependencies.settings.webhookDelivery,
            timeZone: dependencies.settings.timeZone, logger: dependencies.logger
        ))
    }
    return app
}
