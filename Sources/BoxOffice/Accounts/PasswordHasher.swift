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
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    public func verify(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
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
