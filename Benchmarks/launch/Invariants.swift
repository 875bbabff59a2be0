import BoxOffice
import Foundation
import NIOHTTP1
import PostgresClient
import RedisClient

/// The checks at the end of a run, against PostgreSQL and Redis directly.
struct InvariantReport: Sendable, Codable {
    var violations: [String]
    var soldSeats: Int
    var confirmedBookings: Int
    var succeededPayments: Int
    var refunds: Int
}

func checkInvariants(
    stage: Stage, postgres: PostgresPool, redis: RedisClient, api: API, holdsHaveExpired: Bool
) async throws -> InvariantReport {
    var violations = try await BookingInvariants.violations(in: postgres)
    var soldTotal = 0
    // The ceiling's showtimes are held to the same checks; the totals are the HTTP sale's.
    for showtime in stage.showtimes + stage.ceilingShowtimes {
        let sold = Set(try await postgres.query("""
            SELECT seat_id FROM showtime_seats WHERE showtime_id = \(showtime.id) AND status = 'sold'
            """).map { try $0.decode(Int.self, column: "seat_id") })
        if !stage.ceilingShowtimes.contains(where: { $0.id == showtime.id }) { soldTotal += sold.count }
        // The seat map accounts for every seat: sold + held + available = capacity, and once the
        // holds have expired, sold + available = capacity.
        // Read signed in: an anonymous viewer may be served a rendering up to
        // BOXOFFICE_SEAT_MAP_MAX_AGE_MS old, and the last payments were confirmed just now.
        let map = try await api.call("check", .GET, "/showtimes/\(showtime.id)/seats", token: stage.tokens.first)
        let statuses = (map.json["seats"] as? [[String: Any]] ?? []).compactMap { $0["status"] as? String }
        let mapSold = statuses.filter { $0 == "sold" }.count
        let available = statuses.filter { $0 == "available" }.count
        let held = statuses.count - mapSold - available
        // Redis' sold cache must equal PostgreSQL's sold seats, once a reader (the seat map just
        // read) has loaded it: a cache dropped for a rebuild is not a wrong one.
        let keys = ShowtimeKeys(showtimeID: showtime.id)
        let members = try await redis.send(RedisCommand<RedisReply>(["SMEMBERS", keys.sold])).array?
            .compactMap(\.string) ?? []
        let cached = members.compactMap { Int($0) }
        // As the server reads it: a set without its `loaded` marker is no cache (a failover may
        // leave half of one); the next reader rebuilds it from PostgreSQL.
        if members.contains("loaded"), Set(cached) != sold {
            violations.append("showtime \(showtime.id): Redis' sold cache has \(cached.count) seats, PostgreSQL \(sold.count)")
        }
        if statuses.count != showtime.capacity {
            violations.append("showtime \(showtime.id): the seat map has \(statuses.count) seats of \(showtime.capacity)")
        }
        if mapSold != sold.count {
            violations.append("showtime \(showtime.id): the seat map shows \(mapSold) sold, PostgreSQL \(sold.count)")
        }
        if holdsHaveExpired, held != 0 {
            violations.append("showtime \(showtime.id): \(held) seats still held after every hold expired")
        }
    }
    let ids = stage.showtimes.map(\.id)
    let counts = try await postgres.query("""
        SELECT (SELECT count(*) FROM bookings WHERE status = 'confirmed' AND showtime_id = ANY(\(ids))) AS confirmed,
               (SELECT count(*) FROM booking_seats WHERE active AND showtime_id = ANY(\(ids))) AS active_seats,
               (SELECT count(*) FROM payments p JOIN bookings b ON b.id = p.booking_id
                WHERE p.status = 'succeeded' AND b.showtime_id = ANY(\(ids))) AS succeeded,
               (SELECT count(*) FROM refunds r JOIN bookings b ON b.id = r.booking_id WHERE b.showtime_id = ANY(\(ids))) AS refunds
        """).first!
    let activeSeats = try counts.decode(Int.self, column: "active_seats")
    if activeSeats != soldTotal {
        violations.append("\(activeSeats) seats in confirmed bookings, but \(soldTotal) sold")
    }
    return InvariantReport(
        violations: violations, soldSeats: soldTotal,
        confirmedBookings: try counts.decode(Int.self, column: "confirmed"),
        succeededPayments: try counts.decode(Int.self, column: "succeeded"),
        refunds: try counts.decode(Int.self, column: "refunds")
    )
}
