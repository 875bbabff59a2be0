import Crypto
import Foundation
import HummingbirdBcrypt
import NIOPosix
import Synchronization

/// bcrypt, run on NIO's blocking thread pool: a hash takes tens to hundreds of milliseconds
/// and would stall Swift's cooperative pool.
public final class PasswordHasher: Sendable {
    public let cost: UInt8
    /// A hash of a random password at our cost, verified against when an email is unknown, so
    /// that a login takes as long whether or not the account exists.
    private let dummyHash = Mutex<String?>(nil)

    public init(cost: UInt8) {
        self.cost = cost
    }

    public func hash(_ password: String) async throws -> String {
        let cost = self.cost
        let input = Self.bcryptInput(password)
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(input, cost: cost) }
    }

    public func verify(_ password: String, hash: String) async throws -> Bool {
        let input = Self.bcryptInput(password)
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(input, hash: hash) }
    }

    /// What bcrypt is given: the password itself up to the 72 bytes bcrypt reads, a longer one
    /// as the base64 of its SHA-256 (44 bytes, no NUL), so that every character counts. Until
    /// this existed no password over 72 bytes was accepted, so every stored hash still matches.
    static func bcryptInput(_ password: String) -> String {
        guard password.utf8.count > 72 else { return password }
        return Data(SHA256.hash(data: Data(password.utf8))).base64EncodedString()
    }

    /// Spends the time of one verification and answers false.
    public func verifyAgainstDummy(_ password: String) async throws {
        let hash: String
        if let existing = dummyHash.withLock({ $0 }) {
            hash = existing
        } else {
            let made = try await self.hash(String(UInt64.random(in: .min ... .max), radix: 36))
            hash = dummyHash.withLock { stored in
                if stored == nil { stored = made }
                return stored!
            }
        }
        _ = try await verify(password, hash: hash)
    }
}
