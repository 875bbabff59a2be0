import Crypto
public import Foundation

/// The proof that a person was admitted from a sale's waiting room: signed by the service,
/// short-lived, bound to one account, showtime and queue ticket. Checked without Redis; the
/// ticket it names must still be an active shopper's (`WaitingRoom.requirePass`).
///
/// `v1.<showtime>.<user>.<ticket>.<expires, unix seconds>.<HMAC-SHA256, base64url>`
public struct QueuePass: Sendable, Equatable {
    public var showtimeID: Int
    public var userID: UUID
    public var ticket: String
    public var expiresAt: Date

    public init(showtimeID: Int, userID: UUID, ticket: String, expiresAt: Date) {
        self.showtimeID = showtimeID
        self.userID = userID
        self.ticket = ticket
        self.expiresAt = expiresAt
    }

    public struct Signer: Sendable {
        private let key: SymmetricKey

        public init(secret: String) {
            // Its own key, derived: a pass is never mistaken for anything else signed with the secret.
            key = SymmetricKey(data: SHA256.hash(data: Data(("boxoffice queue pass:" + secret).utf8)))
        }

        public func sign(_ pass: QueuePass) -> String {
            let body = Self.body(pass)
            return body + "." + Self.base64URL(Data(HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: key)))
        }

        public enum Failure: Error, Equatable {
            case malformed, forged, expired
        }

        /// The pass a token carries, if it is one this service signed and it has not expired.
        public func verify(_ token: String, now: Date = Date()) -> Result<QueuePass, Failure> {
            let parts = token.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 6, parts[0] == "v1", let showtimeID = Int(parts[1]), let userID = UUID(uuidString: String(parts[2])),
                  let expires = Int(parts[4]), let mac = Self.data(base64URL: String(parts[5]))
            else { return .failure(.malformed) }
            let body = parts[0..<5].joined(separator: ".")
            guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(body.utf8), using: key) else {
                return .failure(.forged)
            }
            let pass = QueuePass(showtimeID: showtimeID, userID: userID, ticket: String(parts[3]),
                                 expiresAt: Date(timeIntervalSince1970: TimeInterval(expires)))
            guard pass.expiresAt > now else { return .failure(.expired) }
            return .success(pass)
        }

        static func body(_ pass: QueuePass) -> String {
            "v1.\(pass.showtimeID).\(pass.userID.uuidString.lowercased()).\(pass.ticket).\(Int(pass.expiresAt.timeIntervalSince1970))"
        }

        static func base64URL(_ data: Data) -> String {
            data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }

        static func data(base64URL text: String) -> Data? {
            var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while base64.count % 4 != 0 { base64 += "=" }
            return Data(base64Encoded: base64)
        }
    }
}
