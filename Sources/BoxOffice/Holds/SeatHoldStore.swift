public import Foundation
public import RedisClient
import Synchronization

/// The Redis keys of one showtime. They share the hash tag `{st:<id>}`, so one script may
/// touch them all and the same code runs on a Redis Cluster.
public struct ShowtimeKeys: Sendable, Hashable {
    public let showtimeID: Int
    private let prefix: String

    public init(showtimeID: Int) {
        self.showtimeID = showtimeID
        self.prefix = "bo:{st:\(showtimeID)}:"
    }

    public func seat(_ seatID: Int) -> String { prefix + "seat:" + String(seatID) }
    public func hold(_ holdID: String) -> String { prefix + "hold:" + holdID }
    /// Seat → `hold id|owner|expiry ms` of every held seat: what a seat map reads (the seat
    /// keys stay the lock), so that it reads one hash instead of a key per seat.
    public var holders: String { prefix + "holders" }
    public var expiry: String { prefix + "expiry" }
    public var sold: String { prefix + "sold" }
    public var version: String { prefix + "version" }
    public var userSeatCounts: String { prefix + "users" }
    public var events: String { prefix + "events" }
    /// Bumped whenever seats may leave the sold cache (a seat freed, the cache dropped): a load
    /// that read PostgreSQL before the bump is refused and reads again.
    public var soldEpoch: String { prefix + "sold-epoch" }
    /// Each seat's PostgreSQL row version as last applied to the sold cache, so that changes
    /// reaching Redis out of order cannot undo a newer one.
    public var seatVersions: String { prefix + "seat-versions" }
    /// One person's hold attempts in the current second.
    public func attempts(of owner: UUID) -> String { prefix + "attempts:" + owner.uuidString }
}

/// The Lua scripts in `lua/`, one per change of availability.
public struct HoldScripts: Sendable {
    public let hold: RedisScript
    public let release: RedisScript
    public let extend: RedisScript
    public let confirm: RedisScript
    public let loadSold: RedisScript
    public let seatMap: RedisScript
    public let unsell: RedisScript
    public let forgetSold: RedisScript
    public let close: RedisScript
    public let repairSold: RedisScript
    /// The waiting room's, read from the same folder (the feature keeps its own store).
    public let queue: QueueScripts

    /// Reads the scripts from `directory` (the repository's `lua/`).
    public init(directory: String) throws(BoxOfficeError) {
        func read(_ name: String) throws(BoxOfficeError) -> RedisScript {
            let path = directory + "/" + name + ".lua"
            guard let data = FileManager.default.contents(atPath: path), let source = String(data: data, encoding: .utf8) else {
                throw BoxOfficeError(.unavailable(service: "lua", retryAfterSeconds: 0), code: "script_missing",
                                     message: "cannot read \(path): set BOXOFFICE_LUA_DIR to the repository's lua/ folder")
            }
            return RedisScript(name: name, source: source)
        }
        hold = try read("hold")
        release = try read("release")
        extend = try read("extend")
        confirm = try read("confirm")
        loadSold = try read("load-sold")
        seatMap = try read("seat-map")
        unsell = try read("unsell")
        forgetSold = try read("forget-sold")
        close = try read("close")
        repairSold = try read("repair-sold")
        queue = QueueScripts(join: try read("queue-join"), admit: try read("queue-admit"), status: try read("queue-status"),
                             leave: try read("queue-leave"), control: try read("queue-control"), watch: try read("queue-watch"))
    }

    public var all: [RedisScript] { [hold, release, extend, confirm, loadSold, seatMap, unsell, forgetSold, close, repairSold] + queue.all }
}

/// Seat holds in Redis: each operation is one atomic script.
public struct SeatHoldStore: Sendable {
    public enum HoldOutcome: Sendable, Equatable {
        case held(version: Int, expiresAt: Date)
        /// Seats sold or held by another hold; nothing was taken.
        case taken(seatIDs: [Int])
        /// The per-user limit would be exceeded; `heldNow` seats are already held.
        case limitReached(heldNow: Int)
        /// The sold cache is empty: load it from PostgreSQL (`loadSold`) and try again.
        case soldNotLoaded
        /// The owner made more attempts this second than allowed; nothing was taken.
        case tooManyAttempts
        /// The showtime was cancelled: no hold is taken any more.
        case closed
    }

    public enum ReleaseOutcome: Sendable, Equatable {
        case released(version: Int, seatIDs: [Int])
        case gone
        case notOwner
    }

    public enum ExtendOutcome: Sendable, Equatable {
        case extended(expiresAt: Date, extensionsUsed: Int)
        case gone
        case notOwner
        case limitReached
    }

    let redis: RedisClient
    let scripts: HoldScripts
    private let marks = ActiveMarks()

    public init(redis: RedisClient, scripts: HoldScripts) {
        self.redis = redis
        self.scripts = scripts
    }

    /// Takes every seat of `seatIDs` for a new hold, or none. With `attemptsPerSecond`, the
    /// attempt counts against the owner's rate for this showtime first; pass nil for a retry of
    /// a request that was already counted.
    public func hold(
        showtimeID: Int,
        holdID: String,
        owner: UUID,
        seatIDs: [Int],
        ttl: Duration,
        perUserLimit: Int,
        attemptsPerSecond: Int? = nil,
        startsAt: Date? = nil
    ) async throws -> HoldOutcome {
        let keys = ShowtimeKeys(showtimeID: showtimeID)
        let reply = try await redis.evaluate(
            scripts.hold,
            keys: [keys.hold(holdID), keys.expiry, keys.sold, keys.version, keys.userSeatCounts, keys.attempts(of: owner),
                   keys.holders] + seatIDs.map(keys.seat),
            arguments: [holdID, owner.uuidString, String(ttl.milliseconds), String(perUserLimit), keys.events,
                        attemptsPerSecond.map(String.init) ?? "", startsAt.map { String(Self.milliseconds($0)) } ?? ""]
                + seatIDs.map(String.init)
        )
        let parts = try Self.parts(reply)
        switch parts.first?.string {
        case "ok":
            return .held(version: try Self.int(parts, 1), expiresAt: Self.date(milliseconds: try Self.int(parts, 2)))
        case "taken":
            return .taken(seatIDs: parts.dropFirst().compactMap { $0.string.flatMap(Int.init) })
        case "limit":
            return .limitReached(heldNow: try Self.int(parts, 1))
        case "not_loaded":
            return .soldNotLoaded
        case "too_many":
            return .tooManyAttempts
        case "closed":
            return .closed
        default:
            throw RedisError(.unexpectedReply, "hold answered \(reply)")
        }
    }

    /// Releases a hold; `owner` nil releases whoever owns it (the expiry worker, a failed payment).
    /// `seatIDs`: the hold's seats when the caller knows them (else one more round trip).
    public func release(showtimeID: Int, holdID: String, owner: UUID?, seatIDs: [Int]? = nil) async throws -> ReleaseOutcome {
        let keys = ShowtimeKeys(showtimeID: showtimeID)
        let parts = try await withSeats(seatIDs) { seats in
            try await redis.evaluate(
                scripts.release,
                keys: [keys.hold(holdID), keys.expiry, keys.version, keys.userSeatCounts, keys.holders] + seats.map(keys.seat),
                arguments: [holdID, owner?.uuidString ?? "", keys.events, Self.seatList(seats)]
            )
        }
        switch parts.first?.string {
        case "released":
            return .released(version: try Self.int(parts, 1), seatIDs: parts.dropFirst(2).compactMap { $0.string.flatMap(Int.init) })
        case "gone": return .gone
        case "not_owner": return .notOwner
        default: throw RedisError(.unexpectedReply, "release answered \(parts)")
        }
    }

    /// Extends a live hold by `extensionTime`, at most `maximumExtensions` times; `bookingID`
    /// records the booking a checkout made of it.
    public func extend(
        showtimeID: Int,
        holdID: String,
        owner: UUID,
        seatIDs: [Int]? = nil,
        by extensionTime: Duration,
        maximumExtensions: Int,
        bookingID: UUID? = nil
    ) async throws -> ExtendOutcome {
        let keys = ShowtimeKeys(showtimeID: showtimeID)
        let parts = try await withSeats(seatIDs) { seats in
            try await redis.evaluate(
                scripts.extend,
                keys: [keys.hold(holdID), keys.expiry, keys.holders] + seats.map(keys.seat),
                arguments: [
                    holdID, owner.uuidString, String(extensionTime.milliseconds), String(maximumExtensions),
                    Self.seatList(seats), bookingID?.uuidString ?? "",
                ]
            )
        }
        switch parts.first?.string {
        case "extended":
            return .extended(expiresAt: Self.date(milliseconds: try Self.int(parts, 1)), extensionsUsed: try Self.int(parts, 2))
        case "gone": return .gone
        case "not_owner": return .notOwner
        case "limit": return .limitReached
        default: throw RedisError(.unexpectedReply, "extend answered \(parts)")
        }
    }

    /// After PostgreSQL committed the sale of `seatIDs`: sold cache, hold removed, version bumped.
    /// `rowVersions`: each seat row's version after the sale (a seat changes in the cache only
    /// for a version newer than the last applied); nil applies unconditionally.
    @discardableResult
    public func confirm(showtimeID: Int, holdID: String, seatIDs: [Int], rowVersions: [Int]? = nil) async throws -> Int {
        let keys = ShowtimeKeys(showtimeID: showtimeID)
        let reply = try await redis.evaluate(
            scripts.confirm,
            keys: [keys.hold(holdID), keys.expiry, keys.sold, keys.version, keys.userSeatCounts, keys.seatVersions, keys.holders]
                + seatIDs.map(keys.seat),
            arguments: [holdID, keys.events] + Self.pairs(seatIDs, rowVersions)
        )
        return try Self.int(try Self.parts(reply), 1)
    }

    /// Runs a script that must name the hold's seat keys: with the seats the caller believes,
    /// then (when the script answers `seats` with the recorded list) once more with those.
    private func withSeats(_ believed: [Int]?, _ run: ([Int]) async throws -> RedisReply) async throws -> [RedisReply] {
        var seats = believed ?? []
        for _ in 0..<2 {
            let parts = try Self.parts(try await run(seats))
            guard parts.first?.string == "seats" else { return parts }
            seats = Self.seats(in: parts.count > 1 ? parts[1].string ?? "" : "")
        }
        throw RedisError(.unexpectedReply, "a hold's seats changed twice while it was being changed")
    }

    /// A hold's seats as the hold hash records them: ids joined by commas, in the hold's order.
    static func seatList(_ seatIDs: [Int]) -> String { seatIDs.map(String.init).joined(separator: ",") }

    static func seats(in list: String) -> [Int] { list.split(separator: ",").compactMap { Int($0) } }

    /// Seat id, row version, seat id, row version…; '' for a missing version.
    private static func pairs(_ seatIDs: [Int], _ rowVersions: [Int]?) -> [String] {
        seatIDs.indices.flatMap { index in
            [String(seatIDs[index]), rowVersions.flatMap { index < $0.count ? String($0[index]) : nil } ?? ""]
        }
    }

    public enum LoadOutcome: Sendable, Equatable {
        case loaded(version: Int)
        /// Another reader loaded it first.
        case already(version: Int)
        /// The epoch moved after PostgreSQL was read: read it again.
        case stale
    }

    /// Fills the sold cache from PostgreSQL's sold seats (and its cancelled mark) when it is
    /// missing. With `epoch` (read by `soldEpoch` before PostgreSQL was read), refused when
    /// seats may have left the cache since.
    @discardableResult
    public func loadSold(showtimeID: Int, soldSeatIDs: [Int], cancelled: Bool = false, epoch: Int? = nil) async throws -> LoadOutcome {
        let keys = ShowtimeKeys(showtimeID: showtimeID)
        let reply = try await redis.evaluate(
            scripts.loadSold,
            keys: [keys.sold, keys.version, keys.soldEpoch],
            arguments: [epoch.map(String.init) ?? "", cancelled ? "1" : "0"] + soldSeatIDs.map(String.init)
        )
        let parts = try Self.parts(reply)
        switch parts.first?.string {
        case "loaded": return .loaded(version: try Self.int(parts, 1))
        case "already": return .already(version: try Self.int(parts, 1))
        case "stale": return .stale
        default: throw RedisError(.unexpectedReply, "load-sold answered \(reply)")
        }
    }

    /// The sold cache's epoch, read before PostgreSQL's sold seats are (see `loadSold`).
    public func soldEpoch(showtimeID: Int) async throws -> Int {
        try await redis.send(.get(ShowtimeKeys(showtimeID: showtimeID).soldEpoch)).flatMap(Int.init) ?? 0
    }

    /// What one atomic read of a showtime's availability saw.
    public enum AvailabilityRead: Sendable, Equatable {
        case seats(Availability)
        /// The caller's rendering of this version is still right for the viewer (who holds nothing).
        case unchanged(version: Int)
        /// The sold cache must be loaded from PostgreSQL first (`loadSold`).
        case soldNotLoaded
    }

    public struct Availability: Sendable, Equatable {
        public var version: Int
        public var sold: Set<Int>
        public var held: Set<Int>
        /// The held seats whose hold belongs to the viewer.
        public var heldByViewer: Set<Int>
    }

    /// Reads version, sold and held seats at one instant; changes nothing. With
    /// `knownVersion`, answers `.unchanged` cheaply when nothing differs for the viewer.
    public func availability(showtimeID: Int, viewer: UUID?, knownVersion: Int? = nil) async throws -> AvailabilityRead {
        let keys = ShowtimeKeys(showtimeID: showtimeID)
        let reply = try await redis.evaluate(
            scripts.seatMap,
            keys: [keys.version, keys.sold, keys.userSeatCounts, keys.holders],
            arguments: [viewer?.uuidString ?? "", knownVersion.map(String.init) ?? ""]
        )
        let parts = try Self.parts(reply)
        let version = try Self.int(parts, 0)
        switch try Self.int(parts, 1) {
        case 0: return .soldNotLoaded
        case 2: return .unchanged(version: version)
        default:
            guard parts.count == 5 else { throw RedisError(.unexpectedReply, "seat-map answered \(reply)") }
            func ids(_ index: Int) -> Set<Int> {
                Set(parts[index].array?.compactMap { $0.string.flatMap(Int.init) } ?? [])
            }
            return .seats(Availability(version: version, sold: ids(2), held: ids(3), heldByViewer: ids(4)))
        }
    }

    /// A hold as Redis records it.
    public struct HoldRecord: Sendable, Equatable {
        public var owner: UUID
        public var seatIDs: [Int]
        public var expiresAt: Date
        public var extensionsUsed: Int
        /// The booking a checkout made of this hold, once one did.
        public var bookingID: UUID?
        /// The showtime's start as the holder was shown it (nil for holds that did not record it).
        public var startsAt: Date?
    }

    /// The hold's record, or nil when there is none (never was, released, confirmed, or long expired).
    public func record(showtimeID: Int, holdID: String) async throws -> HoldRecord? {
        let reply = try await redis.send(RedisCommand<RedisReply>(
            ["HMGET", ShowtimeKeys(showtimeID: showtimeID).hold(holdID), "owner", "seats", "expires_at", "extensions", "booking", "starts_at"]
        ))
        guard let fields = reply.array, fields.count == 6, let owner = fields[0].string.flatMap(UUID.init(uuidString:)),
              let expires = fields[2].integer else { return nil }
        return HoldRecord(
            owner: owner,
            seatIDs: Self.seats(in: fields[1].string ?? ""),
            expiresAt: Self.date(milliseconds: expires),
            extensionsUsed: fields[3].integer ?? 0,
            bookingID: fields[4].string.flatMap(UUID.init(uuidString:)),
            startsAt: fields[5].integer.map(Self.date(milliseconds:))
        )
    }

    /// After PostgreSQL committed a cancellation: the seats leave the sold cache; the version after.
    @discardableResult
    public func unsell(showtimeID: Int, seatIDs: [Int], rowVersions: [Int]? = nil) async throws -> Int {
        let keys = ShowtimeKeys(showtimeID: showtimeID)
        let reply = try await redis.evaluate(
            scripts.unsell, keys: [keys.sold, keys.version, keys.soldEpoch, keys.seatVersions],
            arguments: [keys.events] + Self.pairs(seatIDs, rowVersions)
        )
        return try Self.int(try Self.parts(reply), 1)
    }

    /// After PostgreSQL committed a showtime's cancellation: every instance's next hold is
    /// refused; live clients are told. The version after.
    @discardableResult
    public func close(showtimeID: Int) async throws -> Int {
        let keys = ShowtimeKeys(showtimeID: showtimeID)
        let reply = try await redis.evaluate(scripts.close, keys: [keys.sold, keys.version], arguments: [keys.events])
        return try Self.int(try Self.parts(reply), 1)
    }

    /// Every hold id of the showtime that Redis still records, live or lapsed.
    public func holdIDs(showtimeID: Int) async throws -> [String] {
        try await redis.send(RedisCommand(["ZRANGE", ShowtimeKeys(showtimeID: showtimeID).expiry, "0", "-1"]))
            .array?.compactMap(\.string) ?? []
    }

    /// The number of holds of the showtime that have not expired.
    public func liveHoldCount(showtimeID: Int) async throws -> Int {
        let now = Self.milliseconds(Date())
        return try await redis.send(RedisCommand<RedisReply>(
            ["ZCOUNT", ShowtimeKeys(showtimeID: showtimeID).expiry, "(\(now)", "+inf"]
        )).integer ?? 0
    }

    /// PostgreSQL said `seatIDs` are sold: they join the sold cache if it is loaded. The
    /// number of seats Redis did not know were sold.
    @discardableResult
    public func repairSold(showtimeID: Int, seatIDs: [Int]) async throws -> Int {
        guard !seatIDs.isEmpty else { return 0 }
        let keys = ShowtimeKeys(showtimeID: showtimeID)
        let reply = try await redis.evaluate(
            scripts.repairSold, keys: [keys.sold, keys.version], arguments: [keys.events] + seatIDs.map(String.init)
        )
        let parts = try Self.parts(reply)
        return parts.first?.string == "repaired" ? try Self.int(parts, 2) : 0
    }

    /// The hold id on each of `seatIDs` that is held now.
    public func holders(showtimeID: Int, seatIDs: [Int]) async throws -> [Int: String] {
        guard !seatIDs.isEmpty else { return [:] }
        let keys = ShowtimeKeys(showtimeID: showtimeID)
        let reply = try await redis.send(RedisCommand<RedisReply>(["MGET"] + seatIDs.map(keys.seat)))
        var holders: [Int: String] = [:]
        for (seat, value) in zip(seatIDs, reply.array ?? []) {
            if let holdID = value.string { holders[seat] = holdID }
        }
        return holders
    }

    /// Drops the sold cache after Redis may have missed a change, so the next reader rebuilds
    /// it from PostgreSQL (and a load that read PostgreSQL before now is refused).
    public func forgetSold(showtimeID: Int) async throws {
        let keys = ShowtimeKeys(showtimeID: showtimeID)
        _ = try await redis.evaluate(scripts.forgetSold, keys: [keys.sold, keys.soldEpoch], arguments: [])
    }

    /// The showtime's availability version (the seat map's ETag); 0 before any change.
    public func version(showtimeID: Int) async throws -> Int {
        try await redis.send(.get(ShowtimeKeys(showtimeID: showtimeID).version)).flatMap(Int.init) ?? 0
    }

    private static func parts(_ reply: RedisReply) throws -> [RedisReply] {
        guard let parts = reply.array, !parts.isEmpty else {
            throw RedisError(.unexpectedReply, "a hold script answered \(reply)")
        }
        return parts
    }

    private static func int(_ parts: [RedisReply], _ index: Int) throws -> Int {
        guard index < parts.count, let value = parts[index].integer else {
            throw RedisError(.unexpectedReply, "a hold script answered \(parts)")
        }
        return value
    }

    private static func date(milliseconds: Int) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

extension SeatHoldStore {
    /// The sorted set of showtimes with live holds (score: their latest expiry, ms), which the
    /// expiry worker visits. Global, so it stays outside the per-showtime scripts: a script may
    /// only touch keys of one hash slot.
    public static let activeShowtimesKey = "bo:active"

    /// Records that `showtimeID` has a hold until `expiresAt`, after a hold or an extension.
    /// Skipped when this instance marked it within `ActiveMarks.slack` of that already: the
    /// worker only forgets a showtime a minute after its mark, so a mark a little early keeps
    /// it visited, and a rush costs one mark per showtime every few seconds, not one per hold.
    public func markActive(showtimeID: Int, until expiresAt: Date) async throws {
        let score = Int64(expiresAt.timeIntervalSince1970 * 1000)
        guard marks.needsMark(showtimeID, until: score) else { return }
        _ = try await redis.send(RedisCommand(["ZADD", Self.activeShowtimesKey, "GT", String(score), String(showtimeID)]))
        marks.record(showtimeID, until: score)
    }
}

/// The latest expiry (ms) this instance put into the active-showtimes set, per showtime.
final class ActiveMarks: Sendable {
    /// How much later than the last mark a hold may expire before it is marked again.
    static let slack: Int64 = 10_000
    private let marked = Mutex<[Int: Int64]>([:])

    func needsMark(_ showtimeID: Int, until score: Int64) -> Bool {
        marked.withLock { ($0[showtimeID] ?? .min) < score - Self.slack }
    }

    func record(_ showtimeID: Int, until score: Int64) {
        marked.withLock { marked in
            if marked.count >= 4096 { marked.removeAll(keepingCapacity: true) }  // bounded; a miss costs one ZADD
            marked[showtimeID] = max(marked[showtimeID] ?? .min, score)
        }
    }
}
