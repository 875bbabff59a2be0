public import BoxOffice
public import Hummingbird

/// Reads `Authorization: Bearer <access token>` into `context.identity`. A request without a
/// token goes on anonymously (routes decide); a request with a bad token is refused at once,
/// so a client learns that its token expired instead of seeing a confusing 404 or 403.
public struct AuthMiddleware: RouterMiddleware {
    public typealias Context = AppRequestContext
    let tokens: AccessTokens

    public init(tokens: AccessTokens) {
        self.tokens = tokens
    }

    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        // The metrics scraper's bearer token is not an access token: `/metrics` checks it.
        guard let header = request.headers[.authorization], request.uri.path != "/metrics" else {
            return try await next(request, context)
        }
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw BoxOfficeError(.unauthorized, code: "invalid_token", message: "Use 'Authorization: Bearer <access token>'.")
        }
        var context = context
        context.identity = try await tokens.verify(String(header.dropFirst(7)))
        return try await next(request, context)
    }
}

extension AppRequestContext {
    /// The signed-in person, or 401.
    public func requireUser() throws(BoxOfficeError) -> Identity {
        guard let identity else {
            throw BoxOfficeError(.unauthorized, code: "unauthorized", message: "Sign in first.")
        }
        return identity
    }

    /// A signed-in person who may use `permission`, and where: 401 when not signed in, 403
    /// `forbidden` when their role may not.
    public func require(_ permission: Permission) throws(BoxOfficeError) -> Reach {
        let identity = try requireUser()
        guard let reach = identity.reach(for: permission) else {
            throw BoxOfficeError(.forbidden, code: "forbidden", message: permission.refusal)
        }
        return reach
    }
}

extension Permission {
    var refusal: String {
        switch self {
        case .validateTickets, .readReports: "Only staff, managers and admins may do that."
        case .manageBookings, .manageShowtimes, .manageHalls: "Only managers and admins may do that."
        case .manageCatalogue, .manageCinemas, .manageAccounts, .manageWebhooks: "Only admins may do that."
        }
    }
}
