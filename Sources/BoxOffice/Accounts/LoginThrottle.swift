import Crypto
import Foundation
public import Logging
public import RedisClient

/// Counts failed sign-ins in Redis — per client and account, per account, per client — and
/// asks `LoginThrottlePolicy` whether the next attempt may go ahead. Each counter is one key,
/// so every script touches one key and the code runs on a Redis Cluster as well.
///
/// When Redis cannot be reached the throttle fails open (and logs a warning): an outage of
/// the cache should not lock every customer out.
public struct LoginThrottle: Sendable {
    /// Counts a failure and starts the window with the first one, atomically.
    /// Returns {count, milliseconds left in the window}.
    static let recordFailure = RedisScript(name: "login-failure", source: """
        local count = redis.call('INCR', KEYS[1])
        if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl < 0 then
          redis.call('PEXPIRE', KEYS[1], ARGV[1])
          ttl = tonumber(ARGV[1])
        end
        return {count, ttl}
        """)

    /// Returns {count, milliseconds left}, or {0, 0} when there is no counter.
    static let readFailures = RedisScript(name: "login-failures", source: """
        local count = tonumber(redis.call('GET', KEYS[1]) or '0')
        if count == 0 then return {0, 0} end
        return {count, redis.call('PTTL', KEYS[1])}
        """)

    /// One client's failures for one account, with the time of the last (Redis' clock).
    /// Returns {count, milliseconds left in the window}.
    static let recordClientAccountFailure = RedisScript(name: "login-client-account-failure", source: """
        local now = redis.call('TIME')
        local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
        local count = redis.call('HINCRBY', KEYS[1], 'count', 1)
        redis.call('HSET', KEYS[1], 'last', now_ms)
        local ttl = redis.call('PTTL', KEYS[1])
        if count == 1 or ttl < 0 then
          redis.call('PEXPIRE', KEYS[1], ARGV[1])
          ttl = tonumber(ARGV[1])
        end
        return {count, ttl}
        """)

    /// Returns {count, last failure ms, milliseconds left, now ms}; count 0 when none.
    static let readClientAccountFailures = RedisScript(name: "login-client-account-failures", source: """
        local now = redis.call('TIME')
        local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
        local fields = redis.call('HMGET', KEYS[1], 'count', 'last')
        local count = tonumber(fields[1] or '0')
        if count == 0 then return {0, 0, 0, now_ms} end
        return {count, tonumber(fields[2] or '0'), redis.call('PTTL', KEYS[1]), now_ms}
        """)

    let redis: RedisClient
    let policy: LoginThrottlePolicy
    let logger: Logger

    public init(redis: RedisClient, policy: LoginThrottlePolicy, logger: Logger) {
        self.redis = redis
        self.policy = policy
        self.logger = logger
    }

    /// The email is hashed so that addresses do not sit in Redis in clear text.
    static func emailHash(_ email: String) -> String {
        SHA256.hash(data: Data(email.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func emailKey(_ email: String) -> String {
        "bo:login-fail:email:" + emailHash(email)
    }

    static func addressKey(_ address: String) -> String {
        "bo:login-fail:addr:" + address
    }

    /// Without a client address (no peer, as in the router test client) every such client is one.
    static func clientAccountKey(email: String, clientAddress: String?) -> String {
        "bo:login-fail:pair:" + emailHash(email) + ":" + (clientAddress ?? "unknown")
    }

    private var windowMilliseconds: Int64 { policy.window.milliseconds }

    /// Throws 429 `too_many_attempts` with the seconds until an attempt may be made again.
    public func checkAllowed(email: String, clientAddress: String?) async throws(BoxOfficeError) {
        async let pair = run(Self.readClientAccountFailures, key: Self.clientAccountKey(email: email, clientAddress: clientAddress))
        async let account = run(Self.readFailures, key: Self.emailKey(email))
        async let client = readClientFailures(clientAddress)
        guard let pair = await pair, pair.count == 4, let account = await account, let client = await client else { return }
        let counts = LoginThrottlePolicy.Counts(
            clientAccount: pair[0], clientAccountLastFailure: Int64(pair[1]), clientAccountExpiresIn: Int64(pair[2]),
            account: account.first ?? 0, client: client.first ?? 0, clientExpiresIn: Int64(client.last ?? 0), now: Int64(pair[3])
        )
        guard case .wait(let milliseconds, let reason) = policy.decide(counts) else { return }
        let seconds = Int(max(1, (milliseconds + 999) / 1000))
        let message = switch reason {
        case .clientAccount, .client: "Too many failed sign-ins from here; try again in \(seconds) seconds."
        case .accountDelay: "This account is seeing many failed sign-ins; wait \(seconds) seconds before trying again."
        }
        throw BoxOfficeError(.tooManyRequests(retryAfterSeconds: seconds), code: "too_many_attempts", message: message)
    }

    public func recordFailure(email: String, clientAddress: String?) async {
        let window = [String(windowMilliseconds)]
        async let pair = run(Self.recordClientAccountFailure, key: Self.clientAccountKey(email: email, clientAddress: clientAddress), arguments: window)
        async let account = run(Self.recordFailure, key: Self.emailKey(email), arguments: window)
        if let address = clientAddress { _ = await run(Self.recordFailure, key: Self.addressKey(address), arguments: window) }
        _ = await pair
        if let count = await account?.first, count == policy.accountDelayAfter {
            // Once per window and account: a distributed guess is met with delays, and told.
            logger.warning("many failed sign-ins for one account from several clients: failing clients are slowed down", metadata: [
                "account": "\(Self.emailHash(email).prefix(16))", "failures": "\(count)",
            ])
        }
    }

    /// A successful sign-in forgives this client's failures for the account (not the account's
    /// failures from other clients, nor this client's for other accounts).
    public func recordSuccess(email: String, clientAddress: String?) async {
        do {
            _ = try await redis.send(.del([Self.clientAccountKey(email: email, clientAddress: clientAddress)]))
        } catch {
            logger.warning("login throttle: cannot clear a counter in Redis", metadata: ["error": "\(error)"])
        }
    }

    /// The client's failures across accounts; none without an address.
    private func readClientFailures(_ clientAddress: String?) async -> [Int]? {
        guard let clientAddress else { return [0, 0] }
        return await run(Self.readFailures, key: Self.addressKey(clientAddress))
    }

    /// The script's integers, or nil (logged) when Redis fails.
    private func run(_ script: RedisScript, key: String, arguments: [String] = []) async -> [Int]? {
        do {
            let reply = try await redis.evaluate(script, keys: [key], arguments: arguments)
            guard let values = reply.array?.compactMap(\.integer), values.count >= 2 else {
                logger.warning("login throttle: unexpected reply from Redis", metadata: ["reply": "\(reply)"])
                return nil
            }
            return values
        } catch {
            logger.warning("login throttle: Redis failed, not throttling", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
