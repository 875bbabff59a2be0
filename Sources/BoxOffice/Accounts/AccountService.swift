public import Foundation
public import Logging
public import PostgresClient
public import RedisClient

/// Signing up, signing in, refreshing and ending sessions, and admin role changes. Access
/// tokens are the HTTP layer's business; this hands back the account and its refresh token.
public struct AccountService: Sendable {
    /// A signed-in account with the refresh token of its session.
    public struct Session: Sendable {
        public var account: Account
        public var refreshToken: String
    }

    public let accounts: AccountStore
    public let refreshTokens: RefreshTokenStore
    public let throttle: LoginThrottle
    let hasher: PasswordHasher
    let settings: BoxOfficeSettings

    public init(postgres: PostgresPool, redis: RedisClient, settings: BoxOfficeSettings, logger: Logger) {
        self.accounts = AccountStore(postgres: postgres)
        self.refreshTokens = RefreshTokenStore(postgres: postgres)
        self.throttle = LoginThrottle(redis: redis, policy: settings.loginThrottle, logger: logger)
        self.hasher = PasswordHasher(cost: settings.bcryptCost)
        self.settings = settings
    }

    static let invalidCredentials = BoxOfficeError(
        .unauthorized, code: "invalid_credentials", message: "The email or password is wrong."
    )

    public func signUp(email: String, password: String, name: String) async throws -> Session {
        let email = AccountRules.normalizedEmail(email)
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        var validator = Validator()
        AccountRules.checkNewAccount(
            email: email, password: password, name: name,
            minimumPasswordLength: settings.minimumPasswordLength, into: &validator
        )
        try validator.validate()
        let hash = try await hasher.hash(password)
        let account = try await accounts.create(email: email, name: name, passwordHash: hash)
        return Session(account: account, refreshToken: try await refreshTokens.issue(userID: account.id))
    }

    /// Unknown email and wrong password fail alike, in about the same time.
    public func logIn(email: String, password: String, clientAddress: String?) async throws -> Session {
        let email = AccountRules.normalizedEmail(email)
        try await throttle.checkAllowed(email: email, clientAddress: clientAddress)
        // bcrypt ignores what follows a NUL; such a password never matches.
        let usable = !password.unicodeScalars.contains("\0") && password.unicodeScalars.count <= AccountRules.maximumPasswordLength
        // PostgreSQL text cannot hold NUL, so no stored email has one.
        let lookup = email.unicodeScalars.contains("\0") ? nil : try await accounts.credentials(email: email)
        guard let (account, hash) = lookup else {
            try await hasher.verifyAgainstDummy(password)
            await throttle.recordFailure(email: email, clientAddress: clientAddress)
            throw Self.invalidCredentials
        }
        guard try await hasher.verify(password, hash: hash), usable else {
            await throttle.recordFailure(email: email, clientAddress: clientAddress)
            throw Self.invalidCredentials
        }
        await throttle.recordSuccess(email: email, clientAddress: clientAddress)
        return Session(account: account, refreshToken: try await refreshTokens.issue(userID: account.id))
    }

    /// A new pair for a valid refresh token, with the account as it is now (its current role).
    public func refresh(_ token: String) async throws -> Session {
        switch try await refreshTokens.rotate(token) {
        case .rotated(let userID, let newToken):
            guard let account = try await accounts.find(id: userID) else { throw Self.invalidRefreshToken }
            return Session(account: account, refreshToken: newToken)
        case .reused:
            throw BoxOfficeError(
                .unauthorized, code: "refresh_token_reused",
                message: "This refresh token was already used; the session has been ended for safety. Sign in again."
            )
        case .invalid:
            throw Self.invalidRefreshToken
        }
    }

    static let invalidRefreshToken = BoxOfficeError(
        .unauthorized, code: "invalid_refresh_token", message: "The refresh token is unknown, expired or revoked. Sign in again."
    )

    public func logOut(_ token: String) async throws {
        try await refreshTokens.revokeFamily(of: token)
    }

    public func account(id: UUID) async throws -> Account {
        guard let account = try await accounts.find(id: id) else { throw BoxOfficeError.notFound("The user") }
        return account
    }
}

/// The first admin, from configuration at start or from `boxoffice create-admin`. Needs
/// PostgreSQL only.
public struct AdminAccounts: Sendable {
    let accounts: AccountStore
    let hasher: PasswordHasher
    let settings: BoxOfficeSettings

    public init(postgres: PostgresPool, settings: BoxOfficeSettings) {
        self.accounts = AccountStore(postgres: postgres)
        self.hasher = PasswordHasher(cost: settings.bcryptCost)
        self.settings = settings
    }

    /// Creates the admin or promotes the existing account with that email (keeping its
    /// password); running it again changes nothing.
    public func ensureAdmin(email: String, password: String, name: String = "Administrator") async throws -> AccountStore.AdminOutcome {
        let email = AccountRules.normalizedEmail(email)
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        var validator = Validator()
        AccountRules.checkNewAccount(
            email: email, password: password, name: name,
            minimumPasswordLength: settings.minimumPasswordLength, into: &validator
        )
        try validator.validate()
        return try await accounts.ensureAdmin(email: email, name: name) { try await hasher.hash(password) }
    }
}
