public import BoxOffice
public import Foundation
import JWTKit
import Synchronization

/// Signs and verifies the short-lived access tokens (HS256 JWTs).
public struct AccessTokens: Sendable {
    struct Payload: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim
        var iat: IssuedAtClaim
        /// Not issued by this service, but honoured if present (RFC 7519 §4.1.5).
        var nbf: NotBeforeClaim?
        var role: String
        /// The cinema of a staff member or manager.
        var cinema: Int?

        func verify(using algorithm: some JWTAlgorithm) throws {
            try exp.verifyNotExpired()
            try nbf?.verifyNotBefore()
        }
    }

    private let keys: JWTKeyCollection
    public let lifetime: TimeInterval
    private let verified = VerifiedTokens()

    /// `secret` must be at least 32 bytes.
    public init(secret: String, lifetime: TimeInterval = 15 * 60) async {
        self.keys = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.lifetime = lifetime
    }

    public func issue(for identity: Identity, now: Date = Date()) async throws -> String {
        // NumericDate claims in whole seconds: strict JWT libraries reject fractions.
        let now = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let payload = Payload(
            sub: SubjectClaim(value: identity.userID.canonical),
            exp: ExpirationClaim(value: now.addingTimeInterval(lifetime)),
            iat: IssuedAtClaim(value: now),
            nbf: nil,
            role: identity.role.rawValue,
            cinema: identity.cinemaID
        )
        return try await keys.sign(payload)
    }

    /// The identity a token proves; throws `unauthorized` for a bad, forged or expired token.
    public func verify(_ token: String, now: Date = Date()) async throws(BoxOfficeError) -> Identity {
        if let known = verified.lookUp(token) {
            guard known.expiresAt > now else { throw Self.expired }
            return known.identity
        }
        let payload: Payload
        do {
            payload = try await keys.verify(token, as: Payload.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            if error.failedClaim is NotBeforeClaim {
                throw BoxOfficeError(.unauthorized, code: "invalid_token", message: "The access token is not valid yet.")
            }
            throw Self.expired
        } catch {
            throw BoxOfficeError(.unauthorized, code: "invalid_token", message: "The access token is not valid.")
        }
        guard let userID = UUID(uuidString: payload.sub.value), let role = Role(rawValue: payload.role) else {
            throw BoxOfficeError(.unauthorized, code: "invalid_token", message: "The access token is not valid.")
        }
        // A staff member's or manager's token must name their cinema.
        guard !role.belongsToCinema || payload.cinema != nil else {
            throw BoxOfficeError(.unauthorized, code: "invalid_token", message: "The access token is not valid.")
        }
        let identity = Identity(userID: userID, role: role, cinemaID: payload.cinema)
        verified.remember(token, identity: identity, expiresAt: payload.exp.value)
        return identity
    }

    private static let expired = BoxOfficeError(.unauthorized, code: "token_expired", message: "The access token has expired; refresh it.")
}

/// Tokens whose signature was checked, with what they prove: every request of a signed-in
/// person carries the same token, and checking its HMAC and decoding its JSON again cost more
/// than the rest of a seat hold (profiled). Keyed by the whole token, so a forged or altered
/// token never matches; expiry is still checked on each use.
private final class VerifiedTokens: Sendable {
    struct Entry {
        var identity: Identity
        var expiresAt: Date
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let capacity = 20_000

    func lookUp(_ token: String) -> Entry? {
        entries.withLock { $0[token] }
    }

    func remember(_ token: String, identity: Identity, expiresAt: Date) {
        entries.withLock { entries in
            if entries.count >= capacity {
                let now = Date()
                entries = entries.filter { $0.value.expiresAt > now }
                // Still full of live tokens: start over rather than grow without bound.
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[token] = Entry(identity: identity, expiresAt: expiresAt)
        }
    }
}
