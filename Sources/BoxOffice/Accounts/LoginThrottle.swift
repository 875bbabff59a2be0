import Crypto
import Foundation
public import Logging
public import RedisClient

/// Counts failed logins per email and per client address in Redis, and refuses further
/// attempts once either reaches the limit, until its window runs out. Each counter is one key,
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

    let redis: RedisClient
    let limit: Int
    let window: Duration
    let logger: Logger

    public init(redis: RedisClient, limit: Int, window: Duration, logger: Logger) {
        self.redis = redis
        self.limit = limit
        self.window = window
        self.logger = logger
    }

    /// The email is hashed so that addresses do not sit in Redis in clear text.
    static func emailKey(_ email: String) -> String {
        "bo:login-fail:email:" + SHA256.hash(data: Data(email.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func addressKey(_ address: String) -> String {
        "bo:login-fail:addr:" + address
    }

    private func keys(email: String, clientAddress: String?) -> [String] {
        [Self.emailKey(email)] + (clientAddress.map { [Self.addressKey($0)] } ?? [])
    }

    private var windowMilliseconds: Int64 { window.milliseconds }

    /// Throws 429 `too_many_attempts` with the seconds until the longest blocking window ends.
    public func checkAllowed(email: String, clientAddress: String?) async throws(BoxOfficeError) {
        var waitMilliseconds = 0
        for key in keys(email: email, clientAddress: clientAddress) {
            guard let (count, ttl) = await run(Self.readFailures, key: key) else { return }
            if count >= limit { waitMilliseconds = max(waitMilliseconds, ttl) }
        }
        if waitMilliseconds > 0 {
            let seconds = max(1, (waitMilliseconds + 999) / 1000)
            throw BoxOfficeError(
                .tooManyRequests(retryAfterSeconds: seconds),
                code: "too_many_attempts",
                message: "Too many failed sign-ins; try again in \(seconds) seconds."
            )
        }
    }

    public func recordFailure(email: String, clientAddress: String?) async {
        for key in keys(email: email, clientAddress: clientAddress) {
            _ = await run(Self.recordFailure, key: key, arguments: [String(windowMilliseconds)])
        }
    }

    /// A successful sign-in forgives the email's failures (not the address's: one address may
    /// be trying many emails).
    public func recordSuccess(email: String) async {
        do {
            _ = try await redis.send(.del([Self.emailKey(email)]))
        } catch {
            logger.warning("login throttle: cannot clear a counter in Redis", metadata: ["error": "\(error)"])
        }
    }

    /// The script's {count, ttl}, or nil (logged) when Redis fails.
    private func run(_ script: RedisScript, key: String, arguments: [String] = []) async -> (Int, Int)? {
        do {
            let reply = try await redis.evaluate(script, keys: [key], arguments: arguments)
            guard let values = reply.array, values.count == 2, let count = values[0].integer, let ttl = values[1].integer else {
                logger.warning("login throttle: unexpected reply from Redis", metadata: ["reply": "\(reply)"])
                return nil
            }
            return (count, ttl)
        } catch {
            logger.warning("login throttle: Redis failed, not throttling", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
