import BoxOffice
import BoxOfficeHTTP
import Foundation
import NIOCore
import NIOHTTP1
import PostgresClient

/// The showtimes on sale and the people who want them, made before the clock starts.
struct Stage: Sendable {
    struct Showtime: Sendable {
        var id: Int
        var capacity: Int
    }

    var showtimes: [Showtime]
    /// The in-process ceiling's own showtimes (none without `--ceiling`).
    var ceilingShowtimes: [Showtime]
    /// Sold a second time for the ceiling, with group commit off.
    var unbatchedCeilingShowtimes: [Showtime]
    var userIDs: [UUID]
    var tokens: [String]
    /// Each showtime's seats, decoded once here: people's devices each decode their own map,
    /// but one generator decoding it for hundreds of them at the opening measured itself.
    var layouts: [Int: ShowtimeSeats]
    /// An admin's token (the waiting-room run configures its showtimes with it).
    var adminToken: String
}

enum SetupError: Error, CustomStringConvertible {
    case failed(String)
    var description: String { if case .failed(let text) = self { text } else { "" } }
}

/// Makes the stage: people straight in PostgreSQL with tokens signed by the server's secret
/// (signing up 20,000 people through bcrypt would take longer than the sale), and a hall,
/// a movie and the showtimes through the admin API.
func buildStage(options: LaunchOptions, api: API, postgres: PostgresPool) async throws -> Stage {
    let run = String(UUID().uuidString.prefix(8)).lowercased()
    let tokens = await AccessTokens(secret: options.jwtSecret, lifetime: 3 * 3600)
    let adminID = try await postgres.query("""
        INSERT INTO users (email, password_hash, name, role)
        VALUES (\("launch-admin-\(run)@load.test"), 'not-a-hash', 'Launch admin', 'admin') RETURNING id
        """).first!.decode(UUID.self, column: "id")
    let admin = try await tokens.issue(for: Identity(userID: adminID, role: .admin))
    let userIDs = try await postgres.query("""
        INSERT INTO users (email, password_hash, name)
        SELECT 'launch-' || \(run) || '-' || i || '@load.test', 'not-a-hash', 'Person ' || i
        FROM generate_series(1, \(options.users)) AS i
        RETURNING id
        """).map { try $0.decode(UUID.self, column: "id") }
    var userTokens: [String] = []
    userTokens.reserveCapacity(userIDs.count)
    for id in userIDs { userTokens.append(try await tokens.issue(for: Identity(userID: id, role: .user))) }

    // A hall of `seats` seats: rows of 40 with two aisles, premium rows in the middle.
    let perRow = min(40, options.seats)
    let rows = (options.seats + perRow - 1) / perRow
    let premium = (rows / 3..<max(rows / 3 + 1, rows / 2)).map { rowLabel($0) }
    let hall = try await api.call("setup", .POST, "/admin/halls", token: admin, json: """
        {"name": "Launch \(run)", "cleaning_minutes": 15, "layout": {"grid": {"rows": \(rows), "seats_per_row": \(perRow),
         "aisles_after": \(perRow >= 30 ? "[10, 30]" : "[]"), "categories": [{"rows": \(jsonArray(premium)), "category": "premium"}],
         "default_category": "standard"}}}
        """)
    guard hall.status == 201, let hallID = hall.json["id"] as? Int else {
        throw SetupError.failed("creating the hall answered \(hall.status): \(String(buffer: hall.body))")
    }
    let movie = try await api.call("setup", .POST, "/admin/movies", token: admin, json: """
        {"title": "The Premiere \(run)", "duration_minutes": 150, "description": "Opening night.", "genre_ids": []}
        """)
    guard movie.status == 201, let movieID = movie.json["id"] as? Int else {
        throw SetupError.failed("creating the movie answered \(movie.status): \(String(buffer: movie.body))")
    }
    var showtimes: [Stage.Showtime] = []
    let formatter = ISO8601DateFormatter()
    let ceilingRuns = options.ceilingShowtimeCount > 0 ? (options.compareGroupCommit ? 2 : 1) : 0
    for index in 0..<options.showtimes + options.ceilingShowtimeCount * ceilingRuns {
        let start = Date().addingTimeInterval(2 * 86_400 + Double(index) * 4 * 3600)
        let showtime = try await api.call("setup", .POST, "/admin/showtimes", token: admin, json: """
            {"movie_id": \(movieID), "hall_id": \(hallID), "starts_at": "\(formatter.string(from: start))",
             "currency": "EUR", "prices": {"standard": 1200, "premium": 1600}}
            """)
        guard showtime.status == 201, let id = showtime.json["id"] as? Int else {
            throw SetupError.failed("creating a showtime answered \(showtime.status): \(String(buffer: showtime.body))")
        }
        showtimes.append(.init(id: id, capacity: rows * perRow))
    }
    let ceilingEnd = min(showtimes.count, options.showtimes + options.ceilingShowtimeCount)
    let ceilingShowtimes = Array(showtimes[options.showtimes..<ceilingEnd])
    let unbatchedCeilingShowtimes = Array(showtimes[ceilingEnd...])
    showtimes.removeLast(ceilingShowtimes.count + unbatchedCeilingShowtimes.count)
    var layouts: [Int: ShowtimeSeats] = [:]
    for showtime in showtimes {
        let map = try await api.call("setup", .GET, "/showtimes/\(showtime.id)/seats")
        guard map.status == 200, let (layout, _) = ShowtimeSeats.decode(map.body) else {
            throw SetupError.failed("reading the seat map answered \(map.status)")
        }
        layouts[showtime.id] = layout
    }
    return Stage(showtimes: showtimes, ceilingShowtimes: ceilingShowtimes, unbatchedCeilingShowtimes: unbatchedCeilingShowtimes, userIDs: userIDs, tokens: userTokens, layouts: layouts, adminToken: admin)
}

func rowLabel(_ index: Int) -> String {
    var label = ""
    var value = index
    repeat {
        label = String(UnicodeScalar(UInt8(65 + value % 26))) + label
        value = value / 26 - 1
    } while value >= 0
    return label
}

func jsonArray(_ strings: [String]) -> String {
    "[" + strings.map { "\"\($0)\"" }.joined(separator: ",") + "]"
}
