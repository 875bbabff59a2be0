public import Logging
public import RedisClient

/// Seats held right now, per showtime, read from Redis without scanning: the hold script keeps
/// `bo:{st:<id>}:users` (owner → seats held), so a showtime's held seats are the sum of that
/// hash's values — one `HVALS` per showtime, all in one pipeline.
public struct HeldSeatCounter: Sendable {
    let redis: RedisClient
    let logger: Logger

    public init(redis: RedisClient, logger: Logger) {
        self.redis = redis
        self.logger = logger
    }

    /// Held seats by showtime id; nil when Redis cannot be asked (a report then shows
    /// `held: null` rather than failing).
    public func heldSeats(showtimeIDs: [Int]) async -> [Int: Int]? {
        guard !showtimeIDs.isEmpty else { return [:] }
        do {
            let replies = try await redis.pipeline(showtimeIDs.map { ["HVALS", ShowtimeKeys(showtimeID: $0).userSeatCounts] })
            var held: [Int: Int] = [:]
            for (id, reply) in zip(showtimeIDs, replies) {
                guard let values = reply.array else {
                    throw RedisError(.unexpectedReply, "HVALS answered \(reply)")
                }
                held[id] = max(0, values.reduce(0) { $0 + ($1.integer ?? 0) })
            }
            return held
        } catch {
            logger.warning("report without held seats: Redis did not answer", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Fills `held` (and `available`) of the rows on sale; rows not on sale hold nothing.
    /// Returns false when Redis could not be asked, leaving those rows' `held` nil.
    @discardableResult
    public func fill(_ rows: inout [ShowtimeReportRow]) async -> Bool {
        let onSale = rows.filter(\.isOnSale).map(\.id)
        let held = await heldSeats(showtimeIDs: onSale)
        for index in rows.indices {
            if rows[index].isOnSale {
                rows[index].setHeld(held?[rows[index].id] ?? (held == nil ? nil : 0))
            } else {
                rows[index].setHeld(0)
            }
        }
        return held != nil
    }

    /// Marks the rows on sale as unknown (`held` nil) without asking Redis, after it failed
    /// earlier in the same report; the others hold nothing.
    public static func markUnknown(_ rows: inout [ShowtimeReportRow]) {
        for index in rows.indices {
            rows[index].setHeld(rows[index].isOnSale ? nil : 0)
        }
    }
}
