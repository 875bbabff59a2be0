public import BoxOffice
public import Hummingbird

/// Liveness and readiness, for load balancers and orchestrators.
public struct HealthController: Sendable {
    let probe: ReadinessProbe

    public init(probe: ReadinessProbe) {
        self.probe = probe
    }

    struct Health: ResponseEncodable {
        var status: String
    }

    struct Readiness: ResponseEncodable {
        struct Service: Encodable {
            var status: String
            var error: String?
        }
        var status: String
        var services: [String: Service]
    }

    public func addRoutes(to router: Router<AppRequestContext>) {
        /// The process is alive and serving; touches no backing service.
        router.get("/health") { _, _ in
            Health(status: "ok")
        }
        /// Redis and PostgreSQL both answer: 200, else 503 naming the one that does not.
        router.get("/ready") { request, context in
            let statuses = await probe.check()
            var services: [String: Readiness.Service] = [:]
            for status in statuses {
                services[status.name] = .init(status: status.isUp ? "up" : "down", error: status.problem)
            }
            let ready = statuses.allSatisfy(\.isUp)
            var response = try context.responseEncoder.encode(
                Readiness(status: ready ? "ready" : "unavailable", services: services),
                from: request,
                context: context
            )
            response.status = ready ? .ok : .serviceUnavailable
            if !ready { response.headers[.retryAfter] = "1" }
            return response
        }
    }
}
