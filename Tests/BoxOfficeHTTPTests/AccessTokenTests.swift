import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import HummingbirdTesting
import JWTKit
import Testing

@Suite struct AccessTokenTests {
    let tokens: AccessTokens

    init() async {
        tokens = await AccessTokens(secret: "test-secret-test-secret-test-secret-0123")
    }

    @Test func anIssuedTokenVerifiesToItsIdentity() async throws {
        let identity = Identity(userID: UUID(), role: .admin)
        let token = try await tokens.issue(for: identity)
        #expect(try await tokens.verify(token) == identity)
    }

    @Test func anExpiredTokenIsRefusedAsExpired() async throws {
        let token = try await tokens.issue(for: Identity(userID: UUID(), role: .user), now: Date().addingTimeInterval(-3600))
        await #expect { try await tokens.verify(token) } throws: { ($0 as? BoxOfficeError)?.code == "token_expired" }
    }

    @Test func aTokenVerifiedOnceIsStillRefusedOnceItExpires() async throws {
        let identity = Identity(userID: UUID(), role: .user)
        let token = try await tokens.issue(for: identity)
        #expect(try await tokens.verify(token) == identity)
        #expect(try await tokens.verify(token) == identity)  // remembered
        let later = Date().addingTimeInterval(tokens.lifetime + 1)
        await #expect { try await tokens.verify(token, now: later) } throws: { ($0 as? BoxOfficeError)?.code == "token_expired" }
    }

    @Test func aRememberedTokenWithOneCharacterChangedIsRefused() async throws {
        let token = try await tokens.issue(for: Identity(userID: UUID(), role: .user))
        _ = try await tokens.verify(token)
        var altered = Array(token)
        let index = altered.count - 3
        altered[index] = altered[index] == "A" ? "B" : "A"
        await #expect { try await tokens.verify(String(altered)) } throws: { ($0 as? BoxOfficeError)?.code == "invalid_token" }
    }

    @Test func issuedAtAndExpiryAreWholeSeconds() async throws {
        let token = try await tokens.issue(for: Identity(userID: UUID(), role: .user), now: Date(timeIntervalSince1970: 1_800_000_000.75))
        var segment = String(token.split(separator: ".")[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while segment.count % 4 != 0 { segment += "=" }
        let json = String(decoding: try #require(Data(base64Encoded: segment)), as: UTF8.self)
        #expect(json.contains("\"iat\":1800000000"), "\(json)")
        #expect(json.contains("\"exp\":1800000900"), "\(json)")
        #expect(!json.contains("."), "no fractions: \(json)")
    }

    /// A token signed with the right secret whose `nbf` lies ahead is not valid yet.
    @Test func aTokenWithANotBeforeInTheFutureIsRefused() async throws {
        struct Claims: JWTPayload {
            var sub: SubjectClaim
            var exp: ExpirationClaim
            var iat: IssuedAtClaim
            var nbf: NotBeforeClaim
            var role: String
            func verify(using algorithm: some JWTAlgorithm) throws {}
        }
        let keys = await JWTKeyCollection().add(hmac: HMACKey(from: "test-secret-test-secret-test-secret-0123"), digestAlgorithm: .sha256)
        func token(notBefore: Date) async throws -> String {
            try await keys.sign(Claims(
                sub: SubjectClaim(value: UUID().uuidString), exp: ExpirationClaim(value: Date().addingTimeInterval(600)),
                iat: IssuedAtClaim(value: Date()), nbf: NotBeforeClaim(value: notBefore), role: "user"
            ))
        }
        let early = try await token(notBefore: Date().addingTimeInterval(300))
        await #expect { try await tokens.verify(early) } throws: { ($0 as? BoxOfficeError)?.code == "invalid_token" }
        _ = try await tokens.verify(try await token(notBefore: Date().addingTimeInterval(-1)))
    }

    @Test func aTokenSignedWithAnotherSecretIsRefused() async throws {
        let other = await AccessTokens(secret: "another-secret-another-secret-0123456789")
        let forged = try await other.issue(for: Identity(userID: UUID(), role: .admin))
        await #expect { try await tokens.verify(forged) } throws: { ($0 as? BoxOfficeError)?.code == "invalid_token" }
    }

    @Test func aBadBearerTokenGets401ProblemEvenOnAPublicRoute() async throws {
        try await TestApp.run { app in
            let response = try await app.request(.get, "/health", headers: [.authorization: "Bearer nonsense"])
            #expect(response.status == .unauthorized)
            #expect(response.problemCode == "invalid_token")
            #expect(response.headers[.wwwAuthenticate] == "Bearer")
        }
    }
}
