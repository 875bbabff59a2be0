public import BoxOffice
public import Hummingbird

/// The scheduling feature's routes: halls and showtimes.
public enum SchedulingRoutes {
    public static func add(to router: Router<AppRequestContext>, _ dependencies: AppDependencies) {
        let halls = HallStore(postgres: dependencies.postgres)
        HallsController(halls: halls).addRoutes(to: router)
        ShowtimesController(
            showtimes: ShowtimeStore(postgres: dependencies.postgres),
            halls: halls,
            bookings: dependencies.bookings,
            holds: dependencies.holds,
            timeZone: dependencies.settings.timeZone
        ).addRoutes(to: router)
    }
}

/// Halls and their seat layouts: admins manage them, anyone may draw one.
public struct HallsController: Sendable {
    let halls: HallStore

    public init(halls: HallStore) {
        self.halls = halls
    }

    public func addRoutes(to router: Router<AppRequestContext>) {
        /// Creates a hall from a layout (explicit seats, rows, or a grid): 201 with its seats.
        router.post("/admin/halls") { request, context in
            let reach = try context.require(.manageHalls)
            var input = try await request.decodeJSON(as: HallInput.self, context: context)
            // A manager's hall goes to their cinema.
            input.cinemaID = try reach.limit(input.cinemaID)
            return EditedResponse(status: .created, response: SchedulingJSON(try await halls.create(input)))
        }
        /// Lists halls by name with their seat counts and categories (`?cinema=`: of one cinema;
        /// a manager's: of theirs).
        router.get("/admin/halls") { request, context in
            let reach = try context.require(.manageHalls)
            let page = try SchedulingQuery.page(request)
            let cinema = try SchedulingQuery.optionalID(request, "cinema")
            return SchedulingJSON(try await halls.list(cinemaID: try reach.limit(cinema), limit: page.limit, offset: page.offset))
        }
        /// A hall with its seats in row order, for drawing the seat map; public.
        router.get("/halls/:id") { _, context in
            SchedulingJSON(try await halls.get(try SchedulingQuery.id(context, "Hall")))
        }
        /// Replaces a hall's name, cleaning time, best view and (optionally) layout.
        router.put("/admin/halls/:id") { request, context in
            let reach = try context.require(.manageHalls)
            let id = try SchedulingQuery.id(context, "Hall")
            try await reach.check { try await halls.cinemaID(ofHall: id) }
            let input = try await request.decodeJSON(as: HallInput.self, context: context)
            if let moveTo = input.cinemaID { try reach.check(cinema: moveTo) }
            return SchedulingJSON(try await halls.update(id, input))
        }
        /// Deletes a hall that no showtime has used: 204.
        router.delete("/admin/halls/:id") { _, context in
            let reach = try context.require(.manageHalls)
            let id = try SchedulingQuery.id(context, "Hall")
            try await reach.check { try await halls.cinemaID(ofHall: id) }
            try await halls.delete(id)
            return Response(status: .noContent)
        }
    }
}

/// Encodes a domain value as the JSON body, so the domain needs no HTTP types.
struct SchedulingJSON<Value: Encodable & Sendable>: ResponseEncodable {
    let value: Value

    init(_ value: Value) {
        self.value = value
    }

    func encode(to encoder: any Encoder) throws {
        try value.encode(to: encoder)
    }
}

/// Reading path and query parameters with errors that name them.
enum SchedulingQuery {
    /// A path id; anything but a positive integer cannot name a row, so it is a 404.
    static func id(_ context: AppRequestContext, _ what: String) throws(BoxOfficeError) -> Int {
        let text = context.parameters.get("id") ?? ""
        guard let id = Int(text), id > 0 else { throw BoxOfficeError.notFound("\(what) '\(text)'") }
        return id
    }

    /// Every list's page bounds, as the document states them.
    static let limits = 1...200
    static let offsets = 0...1_000_000

    /// `?limit=` (1–200, default 50) and `?offset=` (default 0).
    static func page(_ request: Request) throws(BoxOfficeError) -> (limit: Int, offset: Int) {
        var validator = Validator()
        let limit = integer(request, "limit", default: 50, &validator)
        let offset = integer(request, "offset", default: 0, &validator)
        if let limit { validator.check(limits.contains(limit), "limit", "must be 1 to 200.") }
        if let offset { validator.check(offsets.contains(offset), "offset", "must be 0 to 1000000.") }
        try validator.validate()
        return (limit!, offset!)
    }

    /// An optional id query parameter: absent, or a positive integer (422 otherwise).
    static func optionalID(_ request: Request, _ name: String) throws(BoxOfficeError) -> Int? {
        var validator = Validator()
        let id = integer(request, name, &validator)
        if let id { validator.check(id >= 1, name, "must be an id, 1 or more.") }
        try validator.validate()
        return id
    }

    /// An optional integer query parameter; nil (with a recorded error) when it is not one.
    static func integer(_ request: Request, _ name: String, default value: Int? = nil, _ validator: inout Validator) -> Int? {
        guard let text = request.uri.queryParameters[name[...]] else { return value }
        guard let number = Int(text) else {
            validator.check(false, name, "must be an integer.")
            return nil
        }
        return number
    }
}
