public import BoxOffice
import Foundation
import HTTPTypes
public import Hummingbird
import ServiceLifecycle

/// The waiting room of an on-sale: join, follow your place, leave; staff watch and steer it.
public struct QueueController: Sendable {
    let waitingRoom: WaitingRoom
    let watcher: QueueWatcher
    /// Which cinema a showtime is in, for its managers.
    let showtimes: ShowtimeStore
    let clientAddresses: ClientAddressResolver

    public init(
        waitingRoom: WaitingRoom, watcher: QueueWatcher, showtimes: ShowtimeStore, clientAddresses: ClientAddressResolver = ClientAddressResolver()
    ) {
        self.waitingRoom = waitingRoom
        self.watcher = watcher
        self.showtimes = showtimes
        self.clientAddresses = clientAddresses
    }

    public func addRoutes(to router: Router<AppRequestContext>) {
        /// Joins the showtime's waiting room: 201 with a new ticket, 200 with the caller's
        /// current one (one per account and sale).
        router.post("/showtimes/:id/queue") { request, context in
            let identity = try context.requireUser()
            let showtimeID = try SchedulingQuery.id(context, "Showtime")
            let address = clientAddresses.clientAddress(
                peer: context.remoteAddress?.ipAddress, forwardedFor: request.headers[values: AccountsController.forwardedFor]
            ).map(ClientAddressResolver.limitKey) ?? "unknown"
            let (ticket, created) = try await waitingRoom.join(showtimeID: showtimeID, userID: identity.userID, clientAddress: address)
            return EditedResponse(
                status: created ? .created : .ok, headers: [.location: "/queue/\(ticket.id)"], response: SchedulingJSON(QueueTicketBody(ticket))
            )
        }
        /// The caller's place: waiting (with people ahead and the estimated wait), admitted (with
        /// a fresh queue pass), sold out, expired, left or done. 404 for anyone else's ticket.
        router.get("/queue/:ticket") { _, context in
            let identity = try context.requireUser()
            return SchedulingJSON(QueueTicketBody(try await waitingRoom.ticket(context.parameters.get("ticket") ?? "", userID: identity.userID)))
        }
        /// The caller's place as server-sent events (`event: ticket`, the body of GET
        /// /queue/{ticket}): now, then whenever it moves (no more often than the wait warrants),
        /// at once on admission (with the pass; the stream then ends) or sell-out. Opening it is
        /// not activity: an admitted person keeps their turn by shopping. 404 as for GET.
        router.get("/queue/:ticket/events") { _, context in
            let identity = try context.requireUser()
            let id = context.parameters.get("ticket") ?? ""
            let first = try await waitingRoom.ticket(id, userID: identity.userID, touch: false)
            let updates = first.state.isFinal
                ? nil : watcher.updates(showtimeID: first.showtimeID, ticket: id, userID: identity.userID, current: first.state)
            @Sendable func event(_ state: WaitingRoom.State) throws -> ByteBuffer {
                var ticket = first
                ticket.state = state
                let json = try JSONEncoder().encode(QueueTicketBody(ticket))
                return ByteBuffer(string: "event: ticket\ndata: \(String(decoding: json, as: UTF8.self))\n\n")
            }
            let body = ResponseBody { writer in
                try await writer.write(try event(first.state))
                if let updates {
                    // Ends at graceful shutdown, so that the server need not wait for streams.
                    for await update in updates.cancelOnGracefulShutdown() {
                        switch update {
                        case .state(let state): try await writer.write(try event(state))
                        case .heartbeat: try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        }
                    }
                }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
        }
        /// Leaves the waiting room (or ends one's turn): 204.
        router.delete("/queue/:ticket") { _, context in
            let identity = try context.requireUser()
            try await waitingRoom.leave(context.parameters.get("ticket") ?? "", userID: identity.userID)
            return Response(status: .noContent)
        }
        /// The room's figures: waiting, active shoppers, admitted so far, the limits, paused and sold out.
        router.get("/admin/showtimes/:id/queue") { _, context in
            let reach = try context.require(.manageShowtimes)
            let showtimeID = try SchedulingQuery.id(context, "Showtime")
            try await reach.check { try await showtimes.cinemaID(ofShowtime: showtimeID) }
            return SchedulingJSON(QueueFiguresBody(try await waitingRoom.control(showtimeID: showtimeID)))
        }
        /// Pauses or resumes admission and changes its limits; absent fields stay.
        router.put("/admin/showtimes/:id/queue") { request, context in
            let reach = try context.require(.manageShowtimes)
            let showtimeID = try SchedulingQuery.id(context, "Showtime")
            try await reach.check { try await showtimes.cinemaID(ofShowtime: showtimeID) }
            let change = try await request.decodeJSON(as: QueueChange.self, context: context)
            var validator = Validator()
            if let value = change.maxActive { validator.check((1...1_000_000).contains(value), "max_active", "must be from 1 to 1000000.") }
            if let value = change.admissionsPerSecond {
                validator.check((1...100_000).contains(value), "admissions_per_second", "must be from 1 to 100000.")
            }
            try validator.validate()
            let figures = try await waitingRoom.control(
                showtimeID: showtimeID, paused: change.paused, maxActive: change.maxActive.map { .value($0) },
                admissionsPerSecond: change.admissionsPerSecond.map { .value($0) }
            )
            return SchedulingJSON(QueueFiguresBody(figures))
        }
    }
}

struct QueueChange: Decodable {
    var paused: Bool?
    var maxActive: Int?
    var admissionsPerSecond: Int?

    enum CodingKeys: String, CodingKey {
        case paused
        case maxActive = "max_active"
        case admissionsPerSecond = "admissions_per_second"
    }
}

struct QueueTicketBody: Encodable, Sendable {
    var ticket: String
    var showtimeID: Int
    var status: String
    /// 1 for the next person in; nil before the opening (the early arrivals' order is not told yet).
    var position: Int?
    var ahead: Int?
    var waiting: Int?
    var estimatedWaitSeconds: Int?
    var queuePass: String?
    var queuePassExpiresAt: String?

    enum CodingKeys: String, CodingKey {
        case ticket, status, position, ahead, waiting
        case showtimeID = "showtime_id"
        case estimatedWaitSeconds = "estimated_wait_seconds"
        case queuePass = "queue_pass"
        case queuePassExpiresAt = "queue_pass_expires_at"
    }

    init(_ ticket: WaitingRoom.Ticket) {
        self.ticket = ticket.id
        showtimeID = ticket.showtimeID
        switch ticket.state {
        case .waiting(let ahead, let waiting, let wait):
            status = "waiting"
            self.ahead = ahead
            position = ahead.map { $0 + 1 }
            self.waiting = waiting
            estimatedWaitSeconds = wait
        case .admitted(let pass, let expires):
            status = "admitted"
            queuePass = pass
            queuePassExpiresAt = SchedulingTime.format(expires)
        case .soldOut(let waiting):
            status = "sold_out"
            self.waiting = waiting
        case .expired: status = "expired"
        case .left: status = "left"
        case .done: status = "done"
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ticket, forKey: .ticket)
        try container.encode(showtimeID, forKey: .showtimeID)
        try container.encode(status, forKey: .status)
        // Nulls spelled out: a client reads "not known yet" rather than a missing field.
        try container.encode(position, forKey: .position)
        try container.encode(ahead, forKey: .ahead)
        try container.encode(waiting, forKey: .waiting)
        try container.encode(estimatedWaitSeconds, forKey: .estimatedWaitSeconds)
        try container.encodeIfPresent(queuePass, forKey: .queuePass)
        try container.encodeIfPresent(queuePassExpiresAt, forKey: .queuePassExpiresAt)
    }
}

struct QueueFiguresBody: Encodable, Sendable {
    var waiting: Int
    var active: Int
    var admitted: Int
    var joined: Int
    var paused: Bool
    var soldOut: Bool
    var maxActive: Int?
    var admissionsPerSecond: Int

    enum CodingKeys: String, CodingKey {
        case waiting, active, admitted, joined, paused
        case soldOut = "sold_out"
        case maxActive = "max_active"
        case admissionsPerSecond = "admissions_per_second"
    }

    init(_ figures: WaitingRoom.Figures) {
        waiting = figures.waiting
        active = figures.active
        admitted = figures.admitted
        joined = figures.joined
        paused = figures.paused
        soldOut = figures.soldOut
        maxActive = figures.maxActive
        admissionsPerSecond = figures.admissionsPerSecond
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(waiting, forKey: .waiting)
        try container.encode(active, forKey: .active)
        try container.encode(admitted, forKey: .admitted)
        try container.encode(joined, forKey: .joined)
        try container.encode(paused, forKey: .paused)
        try container.encode(soldOut, forKey: .soldOut)
        try container.encode(maxActive, forKey: .maxActive)
        try container.encode(admissionsPerSecond, forKey: .admissionsPerSecond)
    }
}
