public import BoxOffice
public import Hummingbird
public import Logging
public import PostgresClient
public import Prometheus
public import RedisClient
import ServiceLifecycle

/// What the HTTP layer needs from the outside world; `main` and the tests both make one.
public struct AppDependencies: Sendable {
    public var redis: RedisClient
    public var postgres: PostgresPool
    public var metrics: PrometheusCollectorRegistry
    public var tokens: AccessTokens
    public var settings: BoxOfficeSettings

    public init(
        redis: RedisClient,
        postgres: PostgresPool,
        metrics: PrometheusCollectorRegistry,
        tokens: AccessTokens,
        settings: BoxOfficeSettings
    ) {
        self.redis = redis
        self.postgres = postgres
        self.metrics = metrics
        self.tokens = tokens
        self.settings = settings
    }
}

public struct ServerSettings: Sendable {
    public var host: String
    public var port: Int
    /// The OpenAPI document served at `/openapi.yaml`.
    public var openAPIPath: String

    public init(host: String = "127.0.0.1", port: Int = 8080, openAPIPath: String = "openapi.yaml") {
        self.host = host
        self.port = port
        self.openAPIPath = openAPIPath
    }
}

/// The router with every route and middleware; one factory for `serve` and the tests.
public func buildRouter(_ dependencies: AppDependencies, settings: ServerSettings = ServerSettings()) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    // Outermost first: every response carries its request id; metrics and the log see the
    // final status, because problems are made innermost.
    router.addMiddleware {
        RequestIDMiddleware()
        MetricsMiddleware()
        LogRequestsMiddleware(.debug)
        ProblemMiddleware()
        AuthMiddleware(tokens: dependencies.tokens)
    }
    HealthController(probe: ReadinessProbe(redis: dependencies.redis, postgres: dependencies.postgres))
        .addRoutes(to: router)
    MetricsController(registry: dependencies.metrics).addRoutes(to: router)
    OpenAPIController(path: settings.openAPIPath).addRoutes(to: router)
    // Feature controllers: one line each.
    AccountsController(dependencies: dependencies).addRoutes(to: router)
    CatalogueController(dependencies).addRoutes(to: router)
    SchedulingRoutes.add(to: router, dependencies)
    ReportsController(dependencies).addRoutes(to: router)
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
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "BoxOffice"),
        logger: logger
    )
    app.addServices(dependencies.postgres, dependencies.redis)
    return app
}
