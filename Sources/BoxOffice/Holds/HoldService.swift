public import Foundation
public import Logging
public import PostgresClient
public import RedisClient

/// What a person asks to hold.
public enum HoldRequest: Sendable, Equatable {
    case seats([Int])
    /// The server picks `count` adjacent seats, best first.
    case bestAvailable(count: Int, category: String?)
}

/// A live hold with its seats priced.
public struct SeatHold: Sendable, Equatable {
    public var id: String
    public var showtimeID: Int
    public var owner: UUID
    public var seats: [ShowtimeLayout.Seat]
    public var currency: String
    public var expiresAt: Date
    public var extensionsUsed: Int
    public var extensionsLeft: Int
    /// The booking a checkout made of this hold, once one did.
    public var bookingID: UUID? = nil
    /// The showtime's start as the holder was shown it: checkout refuses a hold whose showtime
    /// moved since (nil for a hold that did not record it).
    public var startsAt: Date? = nil

    public var total: Int { seats.reduce(0) { $0 + $1.price } }
}

/// A showtime's seats with their statuses, as a seat map draws them.
public struct SeatMap: Sendable {
    public enum Status: String, Sendable {
        case available, held, sold
        case heldByYou = "held_by_you"
    }

    public var layout: ShowtimeLayout
    /// The availability version (the ETag); nil when degraded.
    public var version: Int?
    /// Read from PostgreSQL because Redis is unavailable: sold seats only, holds unknown.
    public var isDegraded: Bool
    /// One per seat of `layout.seats`, in the same order.
    public var statuses: [Status]
}

/// Seat holds: the rules around the Redis scripts. The hot paths touch Redis only (plus the
/// process's layout cache); PostgreSQL is read when a showtime's sold cache must be rebuilt.
public struct HoldService: Sendable {
    let store: SeatHoldStore
    public let layouts: ShowtimeLayoutCache
    let postgres: PostgresPool
    let redis: RedisClient
    public let settings: BoxOfficeSettings
    let logger: Logger
    private let pickingViews: PickingViews
    /// Committed changes Redis must still learn; the bookings' transactions write to it.
    public let outbox: AvailabilityOutbox

    public init(
        redis: RedisClient, postgres: PostgresPool, scripts: HoldScripts, settings: BoxOfficeSettings, logger: Logger
    ) {
        self.store = SeatHoldStore(redis: redis, scripts: scripts)
        self.layouts = ShowtimeLayoutCache(postgres: postgres, statusLifetime: settings.showtimeStatusLifetime)
        self.postgres = postgres
        self.redis = redis
        self.settings = settings
        self.logger = logger
        self.pickingViews = PickingViews(maxAge: settings.seatMapMaxAge)
        self.outbox = AvailabilityOutbox(postgres: postgres, logger: logger)
    }

    /// The worker that releases this service's expired holds.
    public func expiryWorker(logger: Logger) -> HoldExpiryWorker {
        HoldExpiryWorker(redis: redis, store: store, logger: logger)
    }

    // MARK: - Holding

    /// Holds the requested seats (or the best block) for `owner`, all or nothing. Attempts are
    /// rate-limited per person and showtime (counted by the hold script itself).
    public func hold(showtimeID: Int, by owner: UUID, _ request: HoldRequest) async throws -> SeatHold {
        let limit = settings.maxSeatsPerUser
        // A malformed request is refused as such whatever the showtime's state (422 before 410).
        switch request {
        case .seats(let seatIDs):
            if seatIDs.isEmpty { throw BoxOfficeError.validation(field: "seat_ids", "must name at least one seat.") }
            if seatIDs.contains(where: { $0 < 1 }) { throw BoxOfficeError.validation(field: "seat_ids", "must be seat ids (1 or more).") }
            if seatIDs.count > 100 { throw BoxOfficeError.validation(field: "seat_ids", "must name at most 100 seats.") }
        case .bestAvailable(let count, _):
            if !(1...limit).contains(count) { throw BoxOfficeError.validation(field: "count", "must be 1 to \(limit).") }
        }
        let layout = try await layouts.layout(for: showtimeID)
        try Self.checkOnSale(layout)
        switch request {
        case .seats(let seatIDs):
            try Self.validate(seatIDs: seatIDs, in: layout, limit: limit)
            return try await take(seatIDs, of: layout, for: owner)
        case .bestAvailable(let count, let category):
            var errors: [BoxOfficeError.FieldError] = []
            if !(1...limit).contains(count) {
                errors.append(.init(field: "count", message: "must be 1 to \(limit)."))
            }
            if let category, !layout.seats.contains(where: { $0.category == category }) {
                errors.append(.init(field: "category", message: "this showtime has no '\(category)' seats."))
            }
            if !errors.isEmpty { throw BoxOfficeError.validation(errors) }
            return try await takeBest(count: count, category: category, of: layout, for: owner)
        }
    }

    /// Takes exactly these seats; 409 naming every one that is sold or held.
    private func take(_ seatIDs: [Int], of layout: ShowtimeLayout, for owner: UUID) async throws -> SeatHold {
        switch try await attempt(seatIDs, of: layout, for: owner) {
        case .success(let hold): return hold
        case .failure(let taken): throw Self.seatsTaken(taken, layout)
        }
    }

    /// Picks the best free block and takes it. The take is atomic; should another request win
    /// some of the picked seats first, those count as taken and the next best block is tried.
    private func takeBest(count: Int, category: String?, of layout: ShowtimeLayout, for owner: UUID) async throws -> SeatHold {
        let picker = layout.bestAvailable
        let showtimeID = layout.showtimeID
        // This request's own read of the seats, once the shared view had no block for it or
        // its block was taken: only a read of Redis may answer "none left".
        var ownRead: SeatsRead?
        func readSeats() async throws -> SeatsRead {
            let readAt = ContinuousClock.now
            let unavailable = try await unavailableSeats(of: layout)
            pickingViews.refresh(showtimeID: showtimeID, unavailable: unavailable, readAt: readAt)
            return SeatsRead(unavailable: unavailable, at: readAt)
        }
        func claim() -> [Int]? {
            pickingViews.claim(showtimeID: showtimeID, count: count, category: category, with: picker, after: ownRead)
        }
        for round in 0..<5 {
            // Concurrent requests claim different blocks in the shared view, also after a read
            // of their own refreshed it: picking from identical reads, everyone asking at the
            // opening of a sale would go for the same best block and all but one lose it, round
            // after round. The own read decides only when the view's claims leave no block.
            var block = ownRead == nil ? claim() : nil
            if block == nil {
                if ownRead == nil { ownRead = try await readSeats() }
                block = claim() ?? picker.pick(count: count, category: category, isFree: { !ownRead!.unavailable.contains($0) })
            }
            guard let block else { break }
            switch try await attempt(block, of: layout, for: owner, counted: round > 0) {
            case .success(let hold): return hold
            case .failure(let taken):
                pickingViews.markTaken(showtimeID: showtimeID, seatIDs: taken)
                if ownRead == nil { ownRead = try await readSeats() }
                ownRead?.unavailable.formUnion(taken)
            }
        }
        let kind = category.map { " \($0)" } ?? ""
        throw BoxOfficeError(
            .conflict, code: "no_block_available",
            message: "No \(count) adjacent\(kind) seats are free in one row; try fewer seats or pick them yourself.",
            details: ["count": .int(count)]
        )
    }

    private enum Attempt {
        case success(SeatHold)
        case failure(taken: [Int])
    }

    /// One run of the hold script (after loading the sold cache, if Redis lacks it). `counted`:
    /// this request already counted against the person's attempt rate.
    private func attempt(_ seatIDs: [Int], of layout: ShowtimeLayout, for owner: UUID, counted: Bool = false) async throws -> Attempt {
        let holdID = HoldID.make(showtimeID: layout.showtimeID)
        let ttl = settings.holdTTL
        // The expiry worker's index, marked before the hold exists (harmless if the hold fails).
        // A round trip only every few seconds per showtime; otherwise it returns at once.
        try await store.markActive(showtimeID: layout.showtimeID, until: Date() + ttl.timeInterval)
        var outcome = try await store.hold(
            showtimeID: layout.showtimeID, holdID: holdID, owner: owner, seatIDs: seatIDs, ttl: ttl,
            perUserLimit: settings.maxSeatsPerUser, attemptsPerSecond: counted ? nil : settings.holdAttemptsPerSecond,
            startsAt: layout.startsAt
        )
        if outcome == .soldNotLoaded {
            try await loadSoldCache(layout.showtimeID)
            outcome = try await store.hold(
                showtimeID: layout.showtimeID, holdID: holdID, owner: owner, seatIDs: seatIDs, ttl: ttl,
                perUserLimit: settings.maxSeatsPerUser, startsAt: layout.startsAt
            )
        }
        switch outcome {
        case .held(_, let expiresAt):
            return .success(SeatHold(
                id: holdID, showtimeID: layout.showtimeID, owner: owner, seats: seatIDs.compactMap(layout.seat),
                currency: layout.currency, expiresAt: expiresAt, extensionsUsed: 0, extensionsLeft: settings.maxHoldExtensions,
                startsAt: layout.startsAt
            ))
        case .closed:
            // This instance's layout is older than the cancel: Redis' mark answers for every instance.
            throw Self.showtimeCancelled
        case .taken(let seats):
            return .failure(taken: seats)
        case .limitReached(let heldNow):
            throw BoxOfficeError(
                .validation, code: "seat_limit",
                message: "You already hold \(heldNow) seats for this showtime; one person may hold at most \(settings.maxSeatsPerUser).",
                details: ["held_now": .int(heldNow), "limit": .int(settings.maxSeatsPerUser)]
            )
        case .tooManyAttempts:
            throw BoxOfficeError(
                .tooManyRequests(retryAfterSeconds: 1), code: "too_many_hold_attempts",
                message: "Too many hold attempts; wait a second and try again."
            )
        case .soldNotLoaded:
            throw RedisError(.unexpectedReply, "the sold cache of showtime \(layout.showtimeID) did not load")
        }
    }

    // MARK: - One hold

    /// The owner's hold; 404 for anyone else and for unknown ids, 410 once it expired.
    public func hold(id: String, for owner: UUID) async throws -> SeatHold {
        let (showtimeID, record) = try await ownedRecord(id: id, owner: owner)
        guard record.expiresAt > Date() else { throw Self.holdExpired }
        let layout = try await layouts.layout(for: showtimeID)
        return SeatHold(
            id: id, showtimeID: showtimeID, owner: owner, seats: record.seatIDs.compactMap(layout.seat),
            currency: layout.currency, expiresAt: record.expiresAt, extensionsUsed: record.extensionsUsed,
            extensionsLeft: max(0, settings.maxHoldExtensions - record.extensionsUsed), bookingID: record.bookingID,
            startsAt: record.startsAt
        )
    }

    /// Adds `settings.holdExtension` to a live hold, a bounded number of times.
    public func extend(id: String, for owner: UUID) async throws -> SeatHold {
        let (showtimeID, record) = try await ownedRecord(id: id, owner: owner)
        switch try await store.extend(
            showtimeID: showtimeID, holdID: id, owner: owner, seatIDs: record.seatIDs, by: settings.holdExtension,
            maximumExtensions: settings.maxHoldExtensions
        ) {
        case .extended(let expiresAt, _):
            try await store.markActive(showtimeID: showtimeID, until: expiresAt)
            return try await hold(id: id, for: owner)
        case .gone: throw Self.holdExpired
        case .notOwner: throw Self.holdNotFound
        case .limitReached:
            throw BoxOfficeError(
                .conflict, code: "extension_limit",
                message: "This hold was already extended \(settings.maxHoldExtensions) times; check out or hold again."
            )
        }
    }

    /// Releases the owner's hold; its seats are free at once.
    public func release(id: String, for owner: UUID) async throws {
        guard let showtimeID = HoldID.showtimeID(of: id) else { throw Self.holdNotFound }
        switch try await store.release(showtimeID: showtimeID, holdID: id, owner: owner) {
        case .released: return
        case .gone, .notOwner: throw Self.holdNotFound
        }
    }

    private func ownedRecord(id: String, owner: UUID) async throws -> (Int, SeatHoldStore.HoldRecord) {
        guard let showtimeID = HoldID.showtimeID(of: id),
              let record = try await store.record(showtimeID: showtimeID, holdID: id),
              record.owner == owner else { throw Self.holdNotFound }
        return (showtimeID, record)
    }

    // MARK: - Seat maps

    /// The current version, for `If-None-Match`: one Redis read.
    public func version(showtimeID: Int) async throws -> Int {
        try await store.version(showtimeID: showtimeID)
    }

    /// Every seat with its status for `viewer`; `.unchanged` when the caller's rendering of
    /// `knownVersion` is still right for them. Without Redis, a degraded map from PostgreSQL.
    public func seatMap(showtimeID: Int, viewer: UUID?, knownVersion: Int? = nil) async throws -> SeatMapRead {
        let layout = try await layouts.layout(for: showtimeID)
        do {
            var read = try await store.availability(showtimeID: showtimeID, viewer: viewer, knownVersion: knownVersion)
            if read == .soldNotLoaded {
                try await loadSoldCache(showtimeID)
                read = try await store.availability(showtimeID: showtimeID, viewer: viewer)
            }
            switch read {
            case .unchanged(let version):
                return .unchanged(version: version)
            case .seats(let availability):
                let statuses = layout.seats.map { seat -> SeatMap.Status in
                    if availability.sold.contains(seat.id) { return .sold }
                    if availability.heldByViewer.contains(seat.id) { return .heldByYou }
                    return availability.held.contains(seat.id) ? .held : .available
                }
                return .map(SeatMap(layout: layout, version: availability.version, isDegraded: false, statuses: statuses))
            case .soldNotLoaded:
                throw RedisError(.unexpectedReply, "the sold cache of showtime \(showtimeID) did not load")
            }
        } catch let error as RedisError where error.code == .unavailable || error.code == .connectionClosed || error.code == .timeout {
            logger.debug("seat map from PostgreSQL while Redis is unavailable", metadata: ["error": "\(error)"])
            let sold = try await soldSeats(showtimeID)
            return .map(SeatMap(
                layout: layout, version: nil, isDegraded: true,
                statuses: layout.seats.map { sold.contains($0.id) ? .sold : .available }
            ))
        }
    }

    public enum SeatMapRead: Sendable {
        case unchanged(version: Int)
        case map(SeatMap)
    }

    // MARK: - Helpers

    /// Fills Redis' sold cache from PostgreSQL (first use, after Redis lost its data, or after
    /// a repair dropped it), with the showtime's cancelled mark. The cache's epoch is read first:
    /// should a seat leave the cache (or the cache be dropped) while PostgreSQL is read, the
    /// load is refused and PostgreSQL read again, so a stale read never installs.
    func loadSoldCache(_ showtimeID: Int) async throws {
        for _ in 0..<5 {
            let epoch = try await store.soldEpoch(showtimeID: showtimeID)
            guard let row = try await postgres.query("""
                SELECT s.status,
                       coalesce((SELECT array_agg(seat_id) FROM showtime_seats WHERE showtime_id = s.id AND status = 'sold'), '{}') AS sold
                FROM showtimes s WHERE s.id = \(showtimeID)
                """).first else { throw BoxOfficeError.notFound("The showtime") }
            let cancelled = try row.decode(ShowtimeStatus.self, column: "status") == .cancelled
            let sold = try row.decode([Int].self, column: "sold")
            if try await store.loadSold(showtimeID: showtimeID, soldSeatIDs: sold, cancelled: cancelled, epoch: epoch) != .stale {
                return
            }
        }
        throw RedisError(.unexpectedReply, "the sold cache of showtime \(showtimeID) kept changing while it loaded")
    }

    private func soldSeats(_ showtimeID: Int) async throws -> Set<Int> {
        let rows = try await postgres.query(
            "SELECT seat_id FROM showtime_seats WHERE showtime_id = \(showtimeID) AND status = 'sold'"
        )
        return Set(try rows.map { try $0.decode(Int.self, column: "seat_id") })
    }

    private func unavailableSeats(of layout: ShowtimeLayout) async throws -> Set<Int> {
        var read = try await store.availability(showtimeID: layout.showtimeID, viewer: nil)
        if read == .soldNotLoaded {
            try await loadSoldCache(layout.showtimeID)
            read = try await store.availability(showtimeID: layout.showtimeID, viewer: nil)
        }
        guard case .seats(let availability) = read else { return [] }
        return availability.sold.union(availability.held)
    }

    /// 410 for a cancelled or started showtime; 403 `sale_not_open` before its opening unless
    /// `allowBeforeOpening` (a waiting room takes people before it).
    static func checkOnSale(_ layout: ShowtimeLayout, allowBeforeOpening: Bool = false) throws(BoxOfficeError) {
        if layout.isCancelled { throw showtimeCancelled }
        switch layout.saleWindow.state(at: Date()) {
        case .started: throw showtimeStarted
        case .notOpenYet(let opensAt): if !allowBeforeOpening { throw SaleWindow.notOpen(opensAt) }
        case .open: break
        }
    }

    static func validate(seatIDs: [Int], in layout: ShowtimeLayout, limit: Int) throws(BoxOfficeError) {
        guard !seatIDs.isEmpty else { throw .validation(field: "seat_ids", "must name at least one seat.") }
        var seen = Set<Int>()
        let duplicates = seatIDs.filter { !seen.insert($0).inserted }
        if !duplicates.isEmpty {
            throw BoxOfficeError(
                .validation, code: "duplicate_seats", message: "Seats \(duplicates.map(String.init).joined(separator: ", ")) are named more than once.",
                fieldErrors: [.init(field: "seat_ids", message: "must not repeat a seat.")], details: ["seat_ids": .ints(duplicates)]
            )
        }
        let unknown = seatIDs.filter { layout.seat($0) == nil }
        if !unknown.isEmpty {
            throw BoxOfficeError(
                .validation, code: "unknown_seats",
                message: "Seats \(unknown.map(String.init).joined(separator: ", ")) are not seats of this showtime.",
                fieldErrors: [.init(field: "seat_ids", message: "must be seats of this showtime.")], details: ["seat_ids": .ints(unknown)]
            )
        }
        if seatIDs.count > limit {
            throw BoxOfficeError(
                .validation, code: "seat_limit", message: "One person may hold at most \(limit) seats for a showtime.",
                fieldErrors: [.init(field: "seat_ids", message: "must name at most \(limit) seats.")],
                details: ["limit": .int(limit)]
            )
        }
    }

    static func seatsTaken(_ seatIDs: [Int], _ layout: ShowtimeLayout) -> BoxOfficeError {
        let names = seatIDs.compactMap(layout.seat).map { "\($0.row)\($0.number)" }
        return BoxOfficeError(
            .conflict, code: "seats_taken",
            message: "Seats \(names.joined(separator: ", ")) were just taken by someone else; nothing was held.",
            details: ["seat_ids": .ints(seatIDs)]
        )
    }

    /// The showtime a hold id names, or nil for what cannot be a hold id.
    public static func showtimeID(ofHold holdID: String) -> Int? {
        HoldID.showtimeID(of: holdID)
    }

    static let showtimeCancelled = BoxOfficeError(.gone, code: "showtime_cancelled", message: "This showtime was cancelled.")
    static let showtimeStarted = BoxOfficeError(.gone, code: "showtime_started", message: "This showtime has already started.")
    static let holdNotFound = BoxOfficeError(.notFound, code: "hold_not_found", message: "There is no such hold of yours.")
    static let holdExpired = BoxOfficeError(.gone, code: "hold_expired", message: "This hold has expired; its seats may be taken. Hold them again.")
}

/// Hold ids name their showtime (so one lookup finds the hold's keys) and 128 random bits.
enum HoldID {
    static func make(showtimeID: Int) -> String {
        // 128 bits from the system's generator, as 32 lowercase hex digits. (Foundation's UUID()
        // opened /dev/urandom on every call, and its string went through NSString: both showed
        // in profiles of the hold path.)
        let digits = Array("0123456789abcdef".utf8)
        var text = "\(showtimeID)-"
        text.reserveCapacity(text.utf8.count + 32)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2 {
            let bits = generator.next()
            for shift in stride(from: 60, through: 0, by: -4) {
                text.unicodeScalars.append(Unicode.Scalar(digits[Int((bits >> UInt64(shift)) & 0x0f)]))
            }
        }
        return text
    }

    static func showtimeID(of holdID: String) -> Int? {
        let bytes = holdID.utf8
        guard let dash = bytes.firstIndex(of: UInt8(ascii: "-")) else { return nil }
        let random = bytes[bytes.index(after: dash)...]
        guard random.count == 32, random.allSatisfy({ isHexDigit($0) }) else { return nil }
        return Int(Substring(bytes[..<dash])).flatMap { $0 > 0 ? $0 : nil }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"): true
        default: false
        }
    }
}

extension Duration {
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

extension ShowtimeLayout {
    var seatIDs: [Int] { seats.map(\.id) }
}
