public import Foundation
public import Logging
public import RedisClient
public import ServiceLifecycle

/// The waiting room's Lua scripts (`lua/queue-*.lua`).
public struct QueueScripts: Sendable {
    let join: RedisScript
    let admit: RedisScript
    let status: RedisScript
    let leave: RedisScript
    let control: RedisScript
    let watch: RedisScript

    var all: [RedisScript] { [join, admit, status, leave, control, watch] }
}

/// The Redis keys of a showtime's waiting room: in the showtime's hash slot, beside its seats,
/// so that admission reads the seats left in the same atomic step.
struct QueueKeys {
    let showtime: ShowtimeKeys
    private let prefix: String

    init(showtimeID: Int) {
        showtime = ShowtimeKeys(showtimeID: showtimeID)
        prefix = "bo:{st:\(showtimeID)}:q:"
    }

    var waiting: String { prefix + "waiting" }
    var active: String { prefix + "active" }
    var owners: String { prefix + "owners" }
    var users: String { prefix + "users" }
    var states: String { prefix + "states" }
    var admittedAt: String { prefix + "admitted-at" }
    var meta: String { prefix + "meta" }
    func joins(from address: String) -> String { prefix + "joins:" + address }

    /// The showtimes whose rooms the admitters step (not in a showtime's slot: one set for all).
    static let rooms = "bo:queue-rooms"
}

/// A fair waiting room in front of a showtime's sale. Everyone who joins before the opening is
/// placed in a uniformly random order (each gets a random key when joining, fixed and recorded);
/// later arrivals queue first-in-first-out behind them. Admission keeps the active shoppers
/// under a limit (by default what the seats left can serve) and under a rate; a shopper stops
/// being active on booking, on leaving, or when not seen for `queueInactivity`. Every step is a
/// Lua script in the showtime's slot, so any number of instances share one room, and an
/// instance that restarts loses nothing (passes are signed, not stored).
///
/// Should Redis lose a room, tickets are unknown (404 `queue_ticket_not_found`) and people
/// join again, first come first served; passes already issued stay valid until they expire;
/// nothing sold is lost (sales are in PostgreSQL).
public struct WaitingRoom: Sendable {
    let redis: RedisClient
    let scripts: QueueScripts
    let layouts: ShowtimeLayoutCache
    let settings: BoxOfficeSettings
    let signer: QueuePass.Signer
    let logger: Logger

    public init(redis: RedisClient, scripts: QueueScripts, layouts: ShowtimeLayoutCache, settings: BoxOfficeSettings, logger: Logger) {
        self.redis = redis
        self.scripts = scripts
        self.layouts = layouts
        self.settings = settings
        self.signer = QueuePass.Signer(secret: settings.queuePassSecret)
        self.logger = logger
    }

    public enum State: Sendable, Equatable {
        /// `ahead` is nil before the opening: the early arrivals' order is drawn, not yet told.
        case waiting(ahead: Int?, waiting: Int, estimatedWaitSeconds: Int?)
        case admitted(pass: String, passExpiresAt: Date)
        /// No seat is left and none held that could come free.
        case soldOut(waiting: Int)
        /// Not seen while admitted for `queueInactivity`, or the ticket is over (left, booked).
        case expired
        case left
        case done
    }

    public struct Ticket: Sendable, Equatable {
        public var id: String
        public var showtimeID: Int
        public var state: State
    }

    /// Joins the showtime's room: the caller's ticket (the one they already have, if any:
    /// `created` false).
    public func join(showtimeID: Int, userID: UUID, clientAddress: String) async throws -> (ticket: Ticket, created: Bool) {
        let layout = try await layouts.layout(for: showtimeID)
        try HoldService.checkOnSale(layout, allowBeforeOpening: true)
        guard layout.waitingRoom != .off else {
            throw BoxOfficeError(.conflict, code: "waiting_room_off",
                                 message: "This showtime has no waiting room: hold seats directly.")
        }
        let keys = QueueKeys(showtimeID: showtimeID)
        let candidate = HoldID.make(showtimeID: showtimeID)
        let reply = try await redis.evaluate(
            scripts.join,
            keys: [keys.waiting, keys.active, keys.owners, keys.users, keys.states, keys.admittedAt, keys.meta,
                   keys.joins(from: clientAddress), keys.showtime.sold, keys.showtime.holders],
            arguments: [candidate, userID.canonical, String(UInt64.random(in: 0..<1_000_000_000_000_000)),
                        String(Self.milliseconds(layout.saleOpensAt)), String(settings.queueJoinsPerAddressPerSecond),
                        layout.waitingRoom.rawValue, String(layout.seats.count), String(settings.queueSeatsPerBooking),
                        settings.queueMaxActive.map(String.init) ?? "", String(settings.queueAdmissionsPerSecond)]
        )
        let parts = reply.array ?? []
        switch parts.first?.string {
        case "joined", "existing":
            guard let id = parts.dropFirst().first?.string else { break }
            _ = try await redis.send(RedisCommand<RedisReply>(["SADD", QueueKeys.rooms, String(showtimeID)]))
            return (try await ticket(id, userID: userID, touch: true), parts.first?.string == "joined")
        case "rate_limited":
            throw BoxOfficeError(.tooManyRequests(retryAfterSeconds: 1), code: "too_many_joins",
                                 message: "Too many people joined from this address in the last second; try again in a moment.")
        default: break
        }
        throw RedisError(.unexpectedReply, "queue-join answered \(reply)")
    }

    /// The caller's ticket as it stands (404 for a ticket that is not theirs, or that Redis lost);
    /// reading an admitted ticket counts as activity and renews its pass.
    public func ticket(_ id: String, userID: UUID, touch: Bool = true) async throws -> Ticket {
        guard let showtimeID = HoldID.showtimeID(of: id) else { throw Self.ticketNotFound }
        let keys = QueueKeys(showtimeID: showtimeID)
        let reply = try await redis.evaluate(
            scripts.status,
            keys: [keys.waiting, keys.active, keys.owners, keys.states, keys.admittedAt, keys.meta],
            arguments: [id, userID.canonical, touch ? "1" : "0"]
        )
        let parts = reply.array ?? []
        let state: State
        switch parts.first?.string {
        case "waiting":
            let numbers = parts.dropFirst().map { $0.integer ?? 0 }
            guard numbers.count >= 7 else { throw RedisError(.unexpectedReply, "queue-status answered \(reply)") }
            let room = RoomProgress(
                waiting: numbers[1], open: numbers[2] == 1, admitted: numbers[3], sinceFirstAdmission: numbers[4],
                rate: numbers[5], paused: numbers[6] == 1, soldOut: false
            )
            state = waitingState(ahead: numbers[0], room)
        case "admitted": state = admittedState(showtimeID: showtimeID, userID: userID, ticket: id)
        case "sold_out": state = .soldOut(waiting: parts.dropFirst().first?.integer ?? 0)
        case let other?: guard let ended = Self.endedState(other) else { throw Self.ticketNotFound }; state = ended
        default: throw Self.ticketNotFound
        }
        return Ticket(id: id, showtimeID: showtimeID, state: state)
    }

    /// A room's figures as every waiting person's estimate needs them.
    struct RoomProgress: Sendable, Equatable {
        var waiting: Int
        var open: Bool
        var admitted: Int
        var sinceFirstAdmission: Int
        var rate: Int
        var paused: Bool
        var soldOut: Bool
    }

    func waitingState(ahead: Int, _ room: RoomProgress) -> State {
        let perSecond = QueueEstimate.admissionsPerSecond(
            admitted: room.admitted, sinceFirstAdmission: room.sinceFirstAdmission,
            configured: Double(room.rate > 0 ? room.rate : settings.queueAdmissionsPerSecond)
        )
        return .waiting(
            ahead: room.open ? ahead : nil, waiting: room.waiting,
            estimatedWaitSeconds: room.open ? QueueEstimate.waitSeconds(ahead: ahead, perSecond: perSecond, paused: room.paused) : nil
        )
    }

    /// An admitted ticket's state, with a fresh pass for its owner.
    func admittedState(showtimeID: Int, userID: UUID, ticket id: String) -> State {
        let expires = Date().addingTimeInterval(settings.queuePassLifetime.timeInterval)
        let pass = QueuePass(showtimeID: showtimeID, userID: userID, ticket: id, expiresAt: expires)
        return .admitted(pass: signer.sign(pass), passExpiresAt: pass.expiresAt)
    }

    static func endedState(_ name: String) -> State? {
        switch name {
        case "expired": .expired
        case "left": .left
        case "done": .done
        default: nil
        }
    }

    /// The states of many tickets of one room in one script call (for the streams this instance
    /// keeps open): nil for a ticket Redis does not know, `.unchanged` for a waiting one whose
    /// place was not asked for (`place` false: its stream is not due to be told).
    func states(showtimeID: Int, tickets: [(id: String, userID: UUID, place: Bool)]) async throws -> [WatchedState?] {
        let keys = QueueKeys(showtimeID: showtimeID)
        let reply = try await redis.evaluate(
            scripts.watch, keys: [keys.waiting, keys.states, keys.meta],
            arguments: [String(tickets.count)] + tickets.map(\.id) + tickets.map { $0.place ? "1" : "0" }
        )
        let parts = reply.array ?? []
        guard parts.count == 7 + 2 * tickets.count else { throw RedisError(.unexpectedReply, "queue-watch answered \(parts.count) values") }
        let numbers = parts.prefix(7).map { $0.integer ?? 0 }
        let room = RoomProgress(
            waiting: numbers[0], open: numbers[1] == 1, admitted: numbers[2], sinceFirstAdmission: numbers[3], rate: numbers[4],
            paused: numbers[5] == 1, soldOut: numbers[6] == 1
        )
        return tickets.enumerated().map { index, ticket -> WatchedState? in
            let name = parts[7 + 2 * index].string ?? ""
            switch name {
            case "waiting":
                if room.soldOut { return .state(.soldOut(waiting: room.waiting)) }
                guard ticket.place else { return .waiting }
                return .state(waitingState(ahead: parts[8 + 2 * index].integer ?? 0, room))
            case "admitted": return .state(admittedState(showtimeID: showtimeID, userID: ticket.userID, ticket: ticket.id))
            default: return Self.endedState(name).map(WatchedState.state)
            }
        }
    }

    enum WatchedState: Sendable, Equatable {
        case state(State)
        /// Still waiting (place not read).
        case waiting
    }

    /// The caller leaves the room (their place or their turn goes to the next).
    public func leave(_ id: String, userID: UUID) async throws {
        guard let showtimeID = HoldID.showtimeID(of: id) else { throw Self.ticketNotFound }
        guard try await end(showtimeID: showtimeID, ticket: id, userID: userID, as: "left") else { throw Self.ticketNotFound }
    }

    /// The caller booked: they stop being an active shopper. Best effort: the inactivity
    /// timeout ends it otherwise.
    public func booked(showtimeID: Int, userID: UUID) async {
        do {
            guard try await layouts.layout(for: showtimeID).waitingRoom != .off else { return }
            _ = try await end(showtimeID: showtimeID, ticket: "", userID: userID, as: "done")
        } catch {
            logger.debug("could not end a shopper's turn after booking", metadata: ["error": "\(error)"])
        }
    }

    private func end(showtimeID: Int, ticket: String, userID: UUID, as final: String) async throws -> Bool {
        let keys = QueueKeys(showtimeID: showtimeID)
        let reply = try await redis.evaluate(
            scripts.leave, keys: [keys.waiting, keys.active, keys.owners, keys.users, keys.states],
            arguments: [ticket, userID.canonical, final]
        )
        return reply.array?.first?.string == "left"
    }

    /// Hold requests for a showtime whose room is on carry a pass (header `Queue-Pass`) of the
    /// same account and showtime whose ticket is still an active shopper's: 403
    /// `queue_pass_required` otherwise. Nothing to check when the room is off.
    public func requirePass(_ token: String?, showtimeID: Int, userID: UUID) async throws {
        let layout = try await layouts.layout(for: showtimeID)
        guard layout.waitingRoom != .off else { return }
        try HoldService.checkOnSale(layout)  // before the opening that is what to say
        func refuse(_ why: String) -> BoxOfficeError {
            BoxOfficeError(.forbidden, code: "queue_pass_required",
                           message: "\(why) Join the waiting room (POST /showtimes/\(showtimeID)/queue) and hold seats with the pass you get when it is your turn.")
        }
        guard let token, !token.isEmpty else { throw refuse("This sale has a waiting room.") }
        switch signer.verify(token) {
        case .failure(.expired): throw refuse("Your queue pass has expired.")
        case .failure: throw refuse("This is not a valid queue pass.")
        case .success(let pass):
            guard pass.showtimeID == showtimeID, pass.userID == userID else {
                throw refuse("This queue pass is for another person or showtime.")
            }
            guard case .admitted = try await ticket(pass.ticket, userID: userID, touch: true).state else {
                throw refuse("Your turn in the waiting room has ended.")
            }
        }
    }

    /// Figures of a room for staff, after applying their changes (nil: keep; `.derived`: back
    /// to the setting or the seats left).
    public func control(showtimeID: Int, paused: Bool? = nil, maxActive: Limit? = nil, admissionsPerSecond: Limit? = nil) async throws -> Figures {
        _ = try await layouts.layout(for: showtimeID)
        let keys = QueueKeys(showtimeID: showtimeID)
        let reply = try await redis.evaluate(
            scripts.control, keys: [keys.waiting, keys.active, keys.meta],
            arguments: [paused.map { $0 ? "1" : "0" } ?? "", maxActive?.argument ?? "", admissionsPerSecond?.argument ?? ""]
        )
        let parts = reply.array ?? []
        guard parts.count >= 8 else { throw RedisError(.unexpectedReply, "queue-control answered \(reply)") }
        return Figures(
            waiting: parts[0].integer ?? 0, active: parts[1].integer ?? 0, admitted: parts[2].integer ?? 0,
            paused: parts[3].integer == 1, soldOut: parts[4].integer == 1,
            maxActive: parts[5].integer, admissionsPerSecond: parts[6].integer ?? settings.queueAdmissionsPerSecond,
            joined: parts[7].integer ?? 0
        )
    }

    public enum Limit: Sendable, Equatable {
        case value(Int)
        case derived

        var argument: String {
            switch self {
            case .value(let value): String(value)
            case .derived: "-"
            }
        }
    }

    public struct Figures: Sendable, Equatable {
        public var waiting: Int
        public var active: Int
        public var admitted: Int
        public var paused: Bool
        public var soldOut: Bool
        /// nil: from the setting or the seats left.
        public var maxActive: Int?
        public var admissionsPerSecond: Int
        public var joined: Int
    }

    /// One admission step of a showtime's room; false once the room is over (the showtime
    /// started, was cancelled, or has no room any more), so the admitters stop stepping it.
    func step(showtimeID: Int) async throws -> Bool {
        let layout: ShowtimeLayout
        do {
            layout = try await layouts.layout(for: showtimeID)
        } catch let error as BoxOfficeError where error.kind == .notFound {
            return false
        }
        guard !layout.isCancelled, layout.startsAt > Date(), layout.waitingRoom != .off else { return false }
        let keys = QueueKeys(showtimeID: showtimeID)
        _ = try await redis.evaluate(
            scripts.admit,
            keys: [keys.waiting, keys.active, keys.states, keys.admittedAt, keys.meta, keys.showtime.sold, keys.showtime.holders],
            arguments: [String(Self.milliseconds(layout.saleOpensAt)), String(layout.seats.count), String(settings.queueSeatsPerBooking),
                        String(settings.queueInactivity.milliseconds), String(settings.queueAdmissionsPerSecond),
                        settings.queueMaxActive.map(String.init) ?? ""]
        )
        return true
    }

    /// Every room's admission, from every instance (the scripts keep the pace, not the callers).
    public func admitter(interval: Duration = .milliseconds(200)) -> some Service {
        WaitingRoomAdmitter(room: self, interval: interval, logger: logger)
    }

    static let ticketNotFound = BoxOfficeError(.notFound, code: "queue_ticket_not_found",
                                               message: "There is no such queue ticket of yours; join the waiting room again.")

    static func milliseconds(_ date: Date?) -> Int64 {
        guard let date else { return 0 }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
}

struct WaitingRoomAdmitter: Service {
    let room: WaitingRoom
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await periodically(every: interval, logger: logger, failure: "waiting-room admission failed") {
            let members = try await room.redis.send(RedisCommand<RedisReply>(["SMEMBERS", QueueKeys.rooms]))
            for showtimeID in (members.array ?? []).compactMap({ $0.string.flatMap(Int.init) }) {
                if try await !room.step(showtimeID: showtimeID) {
                    _ = try await room.redis.send(RedisCommand<RedisReply>(["SREM", QueueKeys.rooms, String(showtimeID)]))
                }
            }
        }
    }
}
