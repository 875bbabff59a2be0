public import Logging
public import RedisClient
public import ServiceLifecycle

/// Releases holds nobody paid for, soon after they expire, so that the version moves and live
/// clients hear that the seats are free. Seat keys expire by their TTL anyway; this also
/// clears the hold's record and the owner's seat count. Every instance runs one: the release
/// script is idempotent, so concurrent workers are harmless.
public struct HoldExpiryWorker: Service {
    let redis: RedisClient
    let store: SeatHoldStore
    let interval: Duration
    let logger: Logger

    public init(redis: RedisClient, store: SeatHoldStore, interval: Duration = .milliseconds(250), logger: Logger) {
        self.redis = redis
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await periodically(every: interval, logger: logger, failure: "hold expiry sweep failed") {
            let released = try await sweep()
            if released > 0 { logger.debug("released expired holds", metadata: ["count": "\(released)"]) }
        }
    }

    /// One pass over the active showtimes; the number of holds released.
    @discardableResult
    public func sweep() async throws -> Int {
        let now = try await redisTimeMilliseconds()
        let active = try await redis.send(RedisCommand(["ZRANGE", SeatHoldStore.activeShowtimesKey, "0", "-1"]))
            .array?.compactMap { $0.string.flatMap(Int.init) } ?? []
        var released = 0
        for showtimeID in active {
            let keys = ShowtimeKeys(showtimeID: showtimeID)
            let expired = try await redis.send(RedisCommand(["ZRANGE", keys.expiry, "-inf", String(now), "BYSCORE", "LIMIT", "0", "500"]))
                .array?.compactMap(\.string) ?? []
            for holdID in expired {
                if case .released = try await store.release(showtimeID: showtimeID, holdID: holdID, owner: nil) {
                    released += 1
                }
            }
        }
        // Forget showtimes whose last hold ended a while ago; a newer hold raised their score.
        _ = try await redis.send(RedisCommand(["ZREMRANGEBYSCORE", SeatHoldStore.activeShowtimesKey, "-inf", String(now - 60_000)]))
        return released
    }

    private func redisTimeMilliseconds() async throws -> Int {
        let parts = try await redis.send(RedisCommand(["TIME"])).array ?? []
        guard parts.count == 2, let seconds = parts[0].integer, let micros = parts[1].integer else {
            throw RedisError(.unexpectedReply, "TIME answered \(parts)")
        }
        return seconds * 1000 + micros / 1000
    }
}
