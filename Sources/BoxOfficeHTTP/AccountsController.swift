import BoxOffice
import Foundation
import HTTPTypes
public import Hummingbird
import Logging
import NIOCore

/// Sign-up, sign-in, sessions, the signed-in user, and admin management of users' roles.
public struct AccountsController: Sendable {
    let service: AccountService
    let tokens: AccessTokens
    let clientAddresses: ClientAddressResolver

    public init(dependencies: AppDependencies, clientAddresses: ClientAddressResolver = ClientAddressResolver()) {
        self.clientAddresses = clientAddresses
        self.service = AccountService(
            postgres: dependencies.postgres,
            redis: dependencies.redis,
            settings: dependencies.settings,
            logger: Logger(label: "boxoffice.accounts")
        )
        self.tokens = dependencies.tokens
    }

    struct SignUpRequest: Decodable {
        var email: String
        var password: String
        var name: String
    }

    struct LogInRequest: Decodable {
        var email: String
        var password: String
    }

    struct RefreshTokenRequest: Decodable {
        var refreshToken: String

        enum CodingKeys: String, CodingKey {
            case refreshToken = "refresh_token"
        }
    }

    struct RoleRequest: Decodable {
        var role: String
        var cinemaID: Int?

        enum CodingKeys: String, CodingKey {
            case role
            case cinemaID = "cinema_id"
        }
    }

    struct SessionResponse: ResponseEncodable {
        var user: Account
        var accessToken: String
        var refreshToken: String
        var tokenType = "Bearer"
        var expiresIn: Int

        enum CodingKeys: String, CodingKey {
            case user
            case accessToken = "access_token"
            case refreshToken = "refresh_token"
            case tokenType = "token_type"
            case expiresIn = "expires_in"
        }
    }

    struct UserResponse: ResponseEncodable {
        var account: Account

        func encode(to encoder: any Encoder) throws {
            try account.encode(to: encoder)
        }
    }

    struct UserPage: ResponseEncodable {
        var items: [Account]
        var total: Int
        var limit: Int
        var offset: Int
    }

    public func addRoutes(to router: Router<AppRequestContext>) {
        /// Creates an account with role `user` and signs it in: 201 with a token pair.
        router.post("/auth/signup") { request, context in
            let body = try await request.decodeJSON(as: SignUpRequest.self, context: context)
            let session = try await service.signUp(email: body.email, password: body.password, name: body.name)
            return EditedResponse(status: .created, response: try await sessionResponse(session))
        }
        /// Signs in with email and password: a token pair; 429 after repeated failures.
        router.post("/auth/login") { request, context in
            let body = try await request.decodeJSON(as: LogInRequest.self, context: context)
            let session = try await service.logIn(
                email: body.email, password: body.password, clientAddress: clientAddress(of: request, context)
            )
            return try await sessionResponse(session)
        }
        /// Exchanges a refresh token for a new pair; the old token is spent.
        router.post("/auth/refresh") { request, context in
            let body = try await request.decodeJSON(as: RefreshTokenRequest.self, context: context)
            return try await sessionResponse(try await service.refresh(body.refreshToken))
        }
        /// Ends the session of a refresh token (all tokens of its family): 204.
        router.post("/auth/logout") { request, context in
            let body = try await request.decodeJSON(as: RefreshTokenRequest.self, context: context)
            try await service.logOut(body.refreshToken)
            return Response(status: .noContent)
        }
        /// The signed-in user.
        router.get("/me") { _, context in
            let identity = try context.requireUser()
            do {
                return UserResponse(account: try await service.account(id: identity.userID))
            } catch let error as BoxOfficeError where error.kind == .notFound {
                // A validly signed token of an account that no longer exists proves nobody.
                throw BoxOfficeError(.unauthorized, code: "invalid_token", message: "The access token's account no longer exists.")
            }
        }
        /// Admins: users, filtered by `q` (in email or name) and `role`, paged.
        router.get("/admin/users") { request, context in
            _ = try context.require(.manageAccounts)
            let query = try UserQuery(request)
            let page = try await service.accounts.list(
                search: query.search, role: query.role, limit: query.limit, offset: query.offset
            )
            return UserPage(items: page.items, total: page.total, limit: query.limit, offset: query.offset)
        }
        /// Admins: sets a user's role (with `cinema_id` for staff and managers); the last admin
        /// cannot be demoted. Takes effect at the user's next refresh, since access tokens carry
        /// the role.
        router.put("/admin/users/:id/role") { request, context in
            _ = try context.require(.manageAccounts)
            guard let id = context.parameters.get("id", as: UUID.self) else { throw BoxOfficeError.notFound("The user") }
            let body = try await request.decodeJSON(as: RoleRequest.self, context: context)
            guard let role = Role(rawValue: body.role) else {
                let names = Role.allCases.map(\.rawValue).joined(separator: ", ")
                throw BoxOfficeError.validation(field: "role", "must be one of \(names)")
            }
            return UserResponse(account: try await service.accounts.setRole(of: id, to: role, cinema: body.cinemaID))
        }
    }

    private func sessionResponse(_ session: AccountService.Session) async throws -> SessionResponse {
        let identity = session.account.identity
        return SessionResponse(
            user: session.account,
            accessToken: try await tokens.issue(for: identity),
            refreshToken: session.refreshToken,
            expiresIn: Int(tokens.lifetime)
        )
    }

    /// The client's IP address (behind a trusted proxy, from `X-Forwarded-For`), as the
    /// throttle counts it (IPv6 by /64); per-address throttling is skipped without one.
    private func clientAddress(of request: Request, _ context: AppRequestContext) -> String? {
        clientAddresses.clientAddress(
            peer: context.remoteAddress?.ipAddress, forwardedFor: request.headers[values: Self.forwardedFor]
        ).map(ClientAddressResolver.limitKey)
    }

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
}

/// `?q=&role=&limit=&offset=` of the user list.
private struct UserQuery {
    var search: String?
    var role: Role?
    var limit = 50
    var offset = 0

    init(_ request: Request) throws(BoxOfficeError) {
        let parameters = request.uri.queryParameters
        var validator = Validator()
        if let q = parameters.get("q"), !q.isEmpty {
            validator.check(q.count <= 200, "q", "must be at most 200 characters")
            validator.check(!q.unicodeScalars.contains("\0"), "q", "must not contain NUL characters")
            search = q
        }
        if let text = parameters.get("role") {
            role = Role(rawValue: text)
            validator.check(role != nil, "role", "must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let text = parameters.get("limit") {
            let value = Int(text)
            validator.check(value.map { SchedulingQuery.limits.contains($0) } ?? false, "limit", "must be a whole number from 1 to 200")
            limit = value ?? limit
        }
        if let text = parameters.get("offset") {
            let value = Int(text)
            validator.check(value.map { SchedulingQuery.offsets.contains($0) } ?? false, "offset", "must be a whole number from 0 to 1000000")
            offset = value ?? offset
        }
        try validator.validate()
    }
}
