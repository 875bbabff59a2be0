public import BoxOffice
public import Foundation
public import Hummingbird

/// Showtimes: managers (of the hall's cinema) and admins schedule, move and cancel them;
/// anyone reads the programme.
public struct ShowtimesController: Sendable {
    let showtimes: ShowtimeStore
    /// Which cinema a new showtime's hall is in.
    let halls: HallStore
    /// Cancelling a showtime cancels its bookings, with refunds.
    let bookings: BookingService
    /// A move is refused while seats are held.
    let holds: HoldService
    /// The zone whose calendar days `?date=` names.
    let timeZone: TimeZone

    public init(showtimes: ShowtimeStore, halls: HallStore, bookings: BookingService, holds: HoldService, timeZone: TimeZone) {
        self.showtimes = showtimes
        self.halls = halls
        self.bookings = bookings
        self.holds = holds
        self.timeZone = timeZone
    }

    public func addRoutes(to router: Router<AppRequestContext>) {
        /// Schedules a showtime with a price per seat category: 201, or 409 `showtime_overlap`.
        router.post("/admin/showtimes") { request, context in
            let reach = try context.require(.manageShowtimes)
            let input = try await request.decodeJSON(as: ShowtimeInput.self, context: context)
            try await reach.check { try await halls.cinemaID(ofHall: input.hallID) }
            return EditedResponse(status: .created, response: SchedulingJSON(try await showtimes.create(input)))
        }
        /// Moves a showtime and/or replaces its prices or currency. A move is refused while the
        /// showtime has bookings (409 `showtime_has_bookings`) or held seats (409 `showtime_has_holds`).
        router.put("/admin/showtimes/:id") { request, context in
            let reach = try context.require(.manageShowtimes)
            let id = try SchedulingQuery.id(context, "Showtime")
            try await reach.check { try await showtimes.cinemaID(ofShowtime: id) }
            let change = try await request.decodeJSON(as: ShowtimeChange.self, context: context)
            let updated = try await showtimes.update(id, change, liveHolds: { try await holds.liveHoldCount(showtimeID: id) })
            holds.layouts.forget(id)
            return SchedulingJSON(updated)
        }
        /// Cancels a showtime and all of its bookings with refunds, in one transaction: 200
        /// with status `cancelled`.
        router.post("/admin/showtimes/:id/cancel") { _, context in
            let reach = try context.require(.manageShowtimes)
            let id = try SchedulingQuery.id(context, "Showtime")
            try await reach.check { try await showtimes.cinemaID(ofShowtime: id) }
            _ = try await bookings.cancelShowtime(id)
            return SchedulingJSON(try await showtimes.get(id))
        }
        /// The day's scheduled showtimes (`?date=` in the cinema's zone, default today), by start.
        router.get("/showtimes") { request, context in
            SchedulingJSON(try await showtimes.list(try filter(request)))
        }
        /// One showtime with its capacity; cancelled ones too, with their status.
        router.get("/showtimes/:id") { _, context in
            SchedulingJSON(try await showtimes.get(try SchedulingQuery.id(context, "Showtime")))
        }
    }

    func filter(_ request: Request) throws(BoxOfficeError) -> ShowtimeFilter {
        let page = try SchedulingQuery.page(request)
        var validator = Validator()
        let date = request.uri.queryParameters["date"].map(String.init) ?? SchedulingTime.today(in: timeZone)
        // The day as each showtime's cinema counts it: every zone's day lies within UTC's ±14 h.
        let day = SchedulingTime.dayBounds(date, in: .gmt)
        validator.check(day != nil, "date", "must be a day as YYYY-MM-DD.")
        let genre = SchedulingQuery.integer(request, "genre", &validator)
        // `movie` is the programme's name for it, `movie_id` the older one; both are checked.
        let movieID = SchedulingQuery.integer(request, "movie_id", &validator)
        let movieName = SchedulingQuery.integer(request, "movie", &validator)
        let hall = SchedulingQuery.integer(request, "hall_id", &validator)
        let cinema = SchedulingQuery.integer(request, "cinema", &validator)
        for (name, id) in [("genre", genre), ("movie_id", movieID), ("movie", movieName), ("hall_id", hall), ("cinema", cinema)] {
            if let id { validator.check(id >= 1, name, "must be an id, 1 or more.") }
        }
        if let movieID, let movieName { validator.check(movieID == movieName, "movie", "names another movie than movie_id.") }
        let movie = movieID ?? movieName
        let city = request.uri.queryParameters["city"].map(String.init)
        if let city { validator.check(!city.isEmpty && city.count <= 100 && !city.contains("\0"), "city", "must be 1 to 100 characters.") }
        try validator.validate()
        return ShowtimeFilter(
            from: day!.start.addingTimeInterval(-14 * 3600), to: day!.end.addingTimeInterval(14 * 3600), genreID: genre,
            movieID: movie, hallID: hall, localDate: date, cinemaID: cinema, city: city, limit: page.limit, offset: page.offset
        )
    }
}
