public import Hummingbird
public import Prometheus

/// Serves the process's metrics in Prometheus' text format.
public struct MetricsController: Sendable {
    let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    public func addRoutes(to router: Router<AppRequestContext>) {
        /// Request counts and latencies by route and status, pool usage.
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(
                status: .ok,
                headers: headers,
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
            )
        }
    }
}
