public import BoxOffice
public import Foundation
import JWTKit

/// Signs and verifies the short-lived access tokens (HS256 JWTs).
public struct AccessTokens: Sendable {
    struct Payload: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim
        var iat: IssuedAtClaim
        var role: String

        func verify(using algorithm: some JWTAlgorithm) throws {
            try exp.verifyNotExpired()
        }
    }

    private let keys: JWTKeyCollection
    public let lifetime: TimeInterval

    /// `secret` must be at least 32 bytes.
    public init(secret: String, lifetime: TimeInterval = 15 * 60) async {
        self.keys = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.lifetime = lifetime
    }

    public func issue(for identity: Identity, now: Date = Date()) async throws -> String {
        let payload = Payload(
            sub: SubjectClaim(value: identity.userID.uuidString),
            exp: ExpirationClaim(value: now.addingTimeInterval(lifetime)),
            iat: IssuedAtClaim(value: now),
            role: identity.role.rawValue
        )
        return try await keys.sign(payload)
    }

    /// The identity a token proves; throws `unauthorized` for a bad, forged or expired token.
    public func verify(_ token: String) async throws(BoxOfficeError) -> Identity {
        let payload: Payload
        do {
            payload = try await keys.verify(token, as: Payload.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw BoxOfficeError(.unauthorized, code: "token_expired", message: "The access token has expired; refresh it.")
        } catch {
            throw BoxOfficeError(.unauthorized, code: "invalid_token", message: "The access token is not valid.")
        }
        guard let userID = UUID(uuidString: payload.sub.value), let role = Role(rawValue: payload.role) else {
            throw BoxOfficeError(.unauthorized, code: "invalid_token", message: "The access token is not valid.")
        }
        return Identity(userID: userID, role: role)
    }
}
