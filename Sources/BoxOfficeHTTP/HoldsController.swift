public import BoxOffice
import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization

/// Seat maps, seat holds and the live stream of availability: the hot paths, Redis only.
public struct HoldsController: Sendable {
    let holds: HoldService
    let broadcaster: AvailabilityBroadcaster
    let waitingRoom: WaitingRoom
    let renderer = SeatMapRenderer()

    public init(holds: HoldService, broadcaster: AvailabilityBroadcaster, waitingRoom: WaitingRoom) {
        self.holds = holds
        self.broadcaster = broadcaster
        self.waitingRoom = waitingRoom
    }

    public func addRoutes(to router: Router<AppRequestContext>) {
        /// Every seat with its status (`?view=statuses`: only the statuses, one letter per seat);
        /// `ETag` is the availability version and a matching `If-None-Match` is answered 304
        /// from one Redis read.
        router.get("/showtimes/:id/seats") { request, context in
            let showtimeID = try SchedulingQuery.id(context, "Showtime")
            let view = try SeatMapView(query: request.uri.queryParameters["view"].map(String.init))
            let viewer = context.identity?.userID
            let clientVersion = Self.version(inIfNoneMatch: request.headers[values: .ifNoneMatch])
            if viewer == nil, let shared = renderer.shared(showtimeID: showtimeID, maxAge: holds.settings.seatMapMaxAge),
               (clientVersion ?? 0) <= shared.version {
                if clientVersion == shared.version {
                    return Response(status: .notModified, headers: Self.cacheHeaders(version: shared.version))
                }
                return Self.jsonResponse(shared.bodies[view], version: shared.version)
            }
            if let clientVersion, await currentVersion(showtimeID) == clientVersion {
                return Response(status: .notModified, headers: Self.cacheHeaders(version: clientVersion))
            }
            guard viewer == nil else {
                let (bodies, version) = try await seatMapBodies(showtimeID: showtimeID, viewer: viewer)
                return Self.jsonResponse(bodies[view], version: version)
            }
            // Anonymous viewers asking at the same moment share one read and one rendering.
            let (bodies, version) = try await renderer.coalescing(showtimeID: showtimeID) {
                try await seatMapBodies(showtimeID: showtimeID, viewer: nil)
            }
            return Self.jsonResponse(bodies[view], version: version)
        }

        /// Holds `seat_ids`, or the best `count` adjacent seats (optionally of one `category`),
        /// for a few minutes: 201; 409 naming taken seats; 422 bad seats or over the limit.
        router.post("/showtimes/:id/holds") { request, context in
            let identity = try context.requireUser()
            let showtimeID = try SchedulingQuery.id(context, "Showtime")
            let body = try await request.collectBody(context: context)
            let input = try HoldInput.scanned(body) ?? JSONBody.decode(HoldInput.self, from: body)
            // Shape before state: a malformed request is 422 whatever the sale's state.
            let holdRequest = try input.request()
            try await waitingRoom.requirePass(request.headers[Self.queuePass], showtimeID: showtimeID, userID: identity.userID)
            let hold = try await holds.hold(showtimeID: showtimeID, by: identity.userID, holdRequest)
            broadcaster.forgetVersion(showtimeID: showtimeID)
            return EditedResponse(status: .created, headers: [.location: "/holds/\(hold.id)"], response: HoldBody(hold))
        }
        /// The caller's hold; 404 for anyone else, 410 once expired.
        router.get("/holds/:id") { _, context in
            let identity = try context.requireUser()
            return HoldBody(try await holds.hold(id: Self.holdID(context), for: identity.userID))
        }
        /// Extends the caller's live hold, a bounded number of times.
        router.post("/holds/:id/extend") { _, context in
            let identity = try context.requireUser()
            return HoldBody(try await holds.extend(id: Self.holdID(context), for: identity.userID))
        }
        /// Releases the caller's hold: 204, its seats are free at once.
        router.delete("/holds/:id") { _, context in
            let identity = try context.requireUser()
            let holdID = Self.holdID(context)
            try await holds.release(id: holdID, for: identity.userID)
            if let showtimeID = HoldService.showtimeID(ofHold: holdID) { broadcaster.forgetVersion(showtimeID: showtimeID) }
            return Response(status: .noContent)
        }

        /// Server-sent events: a `snapshot` (the seat map) and then every `delta` in order,
        /// each with its version as the event id. A client that reconnects with
        /// `Last-Event-ID` (or `?since=`) equal to the current version gets no snapshot again.
        router.get("/showtimes/:id/live") { request, context in
            let showtimeID = try SchedulingQuery.id(context, "Showtime")
            let viewer = context.identity?.userID
            _ = try await holds.layouts.layout(for: showtimeID)  // 404 before the stream starts
            // `Last-Event-ID` is whatever the browser last saw: one that is not a version only
            // means a fresh snapshot. `?since=` is typed: it must be one.
            var validator = Validator()
            let sinceParameter = SchedulingQuery.integer(request, "since", &validator)
            try validator.validate()
            let since = request.headers[HTTPField.Name("Last-Event-ID")!].flatMap { Int($0) } ?? sinceParameter
            // Without the showtime's Redis subscription a stream would miss deltas and never say so.
            guard await broadcaster.follow(showtimeID: showtimeID) else {
                throw BoxOfficeError(
                    .unavailable(service: "redis", retryAfterSeconds: 1), code: "live_unavailable",
                    message: "The live stream is unavailable for a moment; poll the seat map meanwhile and reconnect shortly."
                )
            }
            let session = LiveSession(holds: holds, broadcaster: broadcaster, renderer: renderer)
            let body = ResponseBody { writer in
                _ = try await session.run(showtimeID: showtimeID, viewer: viewer, since: since, heartbeat: Self.heartbeatInterval) {
                    try await writer.write(Self.serverSentEvents($0))
                }
                try await writer.finish(nil)
            }
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: body
            )
        }
    }

    /// The version from this instance's subscription when it knows it (no round trip), else
    /// from Redis (one read, remembered). A change is known here within a delta's delivery.
    private func currentVersion(_ showtimeID: Int) async -> Int? {
        if let known = broadcaster.knownVersion(showtimeID: showtimeID) { return known }
        guard let version = try? await holds.version(showtimeID: showtimeID) else { return nil }
        broadcaster.noteVersion(version, showtimeID: showtimeID)
        return version
    }

    private func seatMapBodies(showtimeID: Int, viewer: UUID?) async throws -> (SeatMapBodies, version: Int?) {
        let cached = renderer.cached(showtimeID: showtimeID)
        var read = try await holds.seatMap(showtimeID: showtimeID, viewer: viewer, knownVersion: cached?.version)
        if case .unchanged(let version) = read {
            if let cached, cached.version == version {
                renderer.confirm(showtimeID: showtimeID, version: version)
                return (cached.bodies, version)
            }
            read = try await holds.seatMap(showtimeID: showtimeID, viewer: viewer)
        }
        guard case .map(let map) = read else {
            throw BoxOfficeError(.unavailable(service: "redis", retryAfterSeconds: 1), code: "redis_unavailable",
                                 message: "The seat map could not be read; try again shortly.")
        }
        return (renderer.render(map, viewer: viewer), map.version)
    }

    static let heartbeatInterval: Duration = .seconds(15)
    /// The pass a waiting room gives an admitted shopper.
    static let queuePass = HTTPField.Name("Queue-Pass")!

    static func jsonResponse(_ body: ByteBuffer, version: Int?) -> Response {
        var headers = version.map(cacheHeaders(version:)) ?? [.cacheControl: "no-store"]
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    static func cacheHeaders(version: Int) -> HTTPFields {
        // Private: the map names the viewer's own holds. Revalidate every time: it is live.
        [.eTag: "\"\(version)\"", .cacheControl: "private, no-cache"]
    }

    /// The version a client's `If-None-Match` names (`"17"`, `W/"17"`, or a list), if any.
    static func version(inIfNoneMatch values: [String]) -> Int? {
        for candidate in values.flatMap({ $0.split(separator: ",") }) {
            var tag = candidate.trimmingCharacters(in: .whitespaces)
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            if tag.hasPrefix("\""), tag.hasSuffix("\""), tag.count >= 2 { tag = String(tag.dropFirst().dropLast()) }
            if let version = Int(tag) { return version }
        }
        return nil
    }


    /// A session's message as server-sent events: one write for a batch of deltas.
    static func serverSentEvents(_ message: LiveSession.Message) -> ByteBuffer {
        switch message {
        case .snapshot(let version, let json):
            return event("snapshot", id: version, data: json)
        case .deltas(let deltas):
            var buffer = ByteBuffer()
            for delta in deltas { writeEvent("delta", id: delta.version, data: delta.json, into: &buffer) }
            return buffer
        case .heartbeat:
            return ByteBuffer(string: ": heartbeat\n\n")
        }
    }

    static func event(_ name: String, id: Int?, data: ByteBuffer) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString("event: \(name)\n")
        if let id { buffer.writeString("id: \(id)\n") }
        buffer.writeString("data: ")
        var data = data
        buffer.writeBuffer(&data)
        buffer.writeString("\n\n")
        return buffer
    }

    /// One server-sent event; `data` is one line of JSON.
    static func writeEvent(_ name: String, id: Int?, data: String, into buffer: inout ByteBuffer) {
        buffer.writeString("event: \(name)\n")
        if let id { buffer.writeString("id: \(id)\n") }
        buffer.writeString("data: ")
        buffer.writeString(data)
        buffer.writeString("\n\n")
    }

    static func holdID(_ context: AppRequestContext) -> String {
        context.parameters.get("id") ?? ""
    }
}

/// `{"seat_ids": [...]}` or `{"count": N, "category": "premium"}`.
struct HoldInput: Decodable {
    var seatIDs: [Int]?
    var count: Int?
    var category: String?

    enum CodingKeys: String, CodingKey {
        case seatIDs = "seat_ids"
        case count, category
    }

    func request() throws(BoxOfficeError) -> HoldRequest {
        switch (seatIDs, count) {
        case (let seats?, nil):
            guard category == nil else {
                throw .validation(field: "category", "goes with count (best available), not with seat_ids.")
            }
            return .seats(seats)
        case (nil, let count?):
            return .bestAvailable(count: count, category: category)
        case (.some, .some):
            throw .validation(field: "seat_ids", "give either seat_ids or count, not both.")
        case (nil, nil):
            throw .validation(field: "seat_ids", "give seat_ids, or count for the best available seats.")
        }
    }
}

/// A hold as JSON, written by hand (`JSONText`): it answers every hold request of a rush.
struct HoldBody: ResponseGenerator {
    let hold: SeatHold

    init(_ hold: SeatHold) {
        self.hold = hold
    }

    var json: String {
        var json = JSONText(capacity: 200 + hold.seats.count * 80)
        json.raw("{\"id\":")
        json.string(hold.id)
        json.raw(",\"showtime_id\":")
        json.int(hold.showtimeID)
        json.raw(",\"seats\":[")
        for (index, seat) in hold.seats.enumerated() {
            json.raw(index == 0 ? "{\"id\":" : ",{\"id\":")
            json.int(seat.id)
            json.raw(",\"row\":")
            json.string(seat.row)
            json.raw(",\"number\":")
            json.int(seat.number)
            json.raw(",\"category\":")
            json.string(seat.category)
            json.raw(",\"price\":")
            json.int(seat.price)
            json.raw("}")
        }
        json.raw("],\"total\":")
        json.int(hold.total)
        json.raw(",\"currency\":")
        json.string(hold.currency)
        json.raw(",\"expires_at\":")
        json.date(hold.expiresAt)
        json.raw(",\"extensions_used\":")
        json.int(hold.extensionsUsed)
        json.raw(",\"extensions_left\":")
        json.int(hold.extensionsLeft)
        json.raw("}")
        return json.text
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: json))
        )
    }
}
