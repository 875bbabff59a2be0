import BoxOffice
import HTTPTypes
public import Hummingbird
import Synchronization

/// A path that some route serves, asked for with a method none of them takes, is answered
/// 405 `method_not_allowed` with `Allow` naming the methods that are served (RFC 9110 §15.5.6),
/// not 404. The routes are learned once the router has them all (`learn`).
public final class MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware, Sendable {
    private let routes = Mutex<[(method: HTTPRequest.Method, path: [String])]>([])

    public init() {}

    /// Takes the router's routes, once every route was added.
    public func learn(_ descriptions: [Router<Context>.RouteDescription]) {
        routes.withLock { routes in
            routes = descriptions.map { ($0.method, $0.path.components.map { "\($0)" }) }
        }
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // Only the router's own "no route" (a route's 404 is a BoxOfficeError).
            let allowed = allowedMethods(for: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method) else { throw error }
            var headers = HTTPFields()
            headers[.allow] = allowed.map(\.rawValue).sorted().joined(separator: ", ")
            throw Problem(
                .methodNotAllowed, code: "method_not_allowed",
                message: "\(request.uri.path) does not take \(request.method.rawValue); it takes \(headers[.allow]!).", headers: headers
            )
        }
    }

    /// The methods of the routes whose path matches `path`.
    func allowedMethods(for path: String) -> Set<HTTPRequest.Method> {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        return routes.withLock { routes in
            Set(routes.filter { Self.matches($0.path, segments) }.map(\.method))
        }
    }

    static func matches(_ pattern: [String], _ segments: [String]) -> Bool {
        guard pattern.count == segments.count else { return pattern.last == "**" && segments.count >= pattern.count - 1 }
        return zip(pattern, segments).allSatisfy { pattern, segment in
            (pattern.hasPrefix("{") && pattern.hasSuffix("}")) || pattern == "*" || pattern == "**" || pattern == segment
        }
    }
}
