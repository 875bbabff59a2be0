import Crypto
public import Foundation
public import PostgresClient

/// Opaque refresh tokens: random, handed out once, stored only as a SHA-256 hash, and rotated
/// on every use. Tokens descending from one login share a family; presenting a token that was
/// already rotated means it leaked (or a client replayed it), so the whole family is revoked.
public struct RefreshTokenStore: Sendable {
    public static let lifetime: TimeInterval = 30 * 24 * 3600

    public enum Rotation: Sendable, Equatable {
        case rotated(userID: UUID, newToken: String)
        case reused
        case invalid
    }

    let postgres: PostgresPool

    public init(postgres: PostgresPool) {
        self.postgres = postgres
    }

    /// 32 random bytes, base64url without padding.
    static func makeToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<4).flatMap { _ in withUnsafeBytes(of: generator.next() as UInt64) { Array($0) } }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Starts a new family (at signup or login) and returns its first token.
    public func issue(userID: UUID, now: Date = Date()) async throws -> String {
        try await postgres.withConnection { connection in
            try await Self.insert(userID: userID, familyID: UUID(), now: now, on: connection)
        }
    }

    static func insert(userID: UUID, familyID: UUID, now: Date, on connection: PostgresConnection) async throws -> String {
        let token = makeToken()
        try await connection.query("""
            INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
            VALUES (\(userID), \(familyID), \(hash(token)), \(now.addingTimeInterval(lifetime)))
            """)
        return token
    }

    /// Exchanges a token for a new one of the same family. The row lock makes two concurrent
    /// uses of one token queue up: the second sees it rotated and is treated as reuse.
    public func rotate(_ token: String, now: Date = Date()) async throws -> Rotation {
        try await postgres.withTransaction { connection in
            guard let row = try await connection.query("""
                SELECT user_id, family_id, expires_at, rotated_at, revoked_at
                FROM refresh_tokens WHERE token_hash = \(Self.hash(token)) FOR UPDATE
                """).first
            else { return .invalid }
            let userID = try row.decode(UUID.self, column: "user_id")
            let familyID = try row.decode(UUID.self, column: "family_id")
            if try row.decode(Date?.self, column: "revoked_at") != nil { return .invalid }
            if try row.decode(Date?.self, column: "rotated_at") != nil {
                // Returned rather than thrown, so that the revocation commits.
                try await Self.revokeFamily(familyID, on: connection)
                return .reused
            }
            if try row.decode(Date.self, column: "expires_at") <= now { return .invalid }
            try await connection.query("""
                UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = \(Self.hash(token))
                """)
            let newToken = try await Self.insert(userID: userID, familyID: familyID, now: now, on: connection)
            return .rotated(userID: userID, newToken: newToken)
        }
    }

    /// Ends the session the token belongs to; an unknown token changes nothing.
    public func revokeFamily(of token: String) async throws {
        try await postgres.query("""
            UPDATE refresh_tokens SET revoked_at = now()
            WHERE revoked_at IS NULL
              AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = \(Self.hash(token)))
            """)
    }

    static func revokeFamily(_ familyID: UUID, on connection: PostgresConnection) async throws {
        try await connection.query("""
            UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = \(familyID) AND revoked_at IS NULL
            """)
    }
}
