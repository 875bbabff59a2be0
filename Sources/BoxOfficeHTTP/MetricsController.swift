import BoxOffice
import HTTPTypes
public import Hummingbird
import NIOCore
public import Prometheus

/// Serves the process's metrics in Prometheus' text format, to the scraper only: with a token
/// set, to requests that bear it; without one, to requests from this machine (loopback) that
/// came through no proxy. Everyone else gets 404, as if there were no such route.
public struct MetricsController: Sendable {
    let registry: PrometheusCollectorRegistry
    let token: String?

    public init(registry: PrometheusCollectorRegistry, token: String? = nil) {
        self.registry = registry
        self.token = token
    }

    func mayRead(_ request: Request, _ context: AppRequestContext) -> Bool {
        if let token {
            let presented = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil } ?? ""
            return Self.constantTimeEqual(Array(presented.utf8), Array(token.utf8))
        }
        guard request.headers[HTTPField.Name("X-Forwarded-For")!] == nil else { return false }
        // The in-process test client has no peer; a real connection always has one.
        guard let peer = context.remoteAddress else { return true }
        guard let address = peer.ipAddress else { return false }
        return address.hasPrefix("127.") || address == "::1" || address.hasPrefix("::ffff:127.")
    }

    /// Equal bytes, in a time that depends only on the lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    public func addRoutes(to router: Router<AppRequestContext>) {
        /// Request counts and latencies by route and status, pool usage.
        router.get("/metrics") { request, context in
            guard mayRead(request, context) else { throw BoxOfficeError.notFound("This page") }
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
