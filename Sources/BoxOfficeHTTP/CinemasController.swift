public import BoxOffice
import Foundation
public import Hummingbird

/// The chain's cities and cinemas: browsing for everyone, opening and editing for admins.
public struct CinemasController: Sendable {
    let cinemas: CinemaStore

    public init(cinemas: CinemaStore) {
        self.cinemas = cinemas
    }

    public func addRoutes(to router: Router<AppRequestContext>) {
        /// The cities with cinemas, by name.
        router.get("/cities") { _, _ in
            SchedulingJSON(CityList(items: try await cinemas.cities()))
        }
        /// The cinemas, by city and name; `?city=` (any case) narrows them.
        router.get("/cinemas") { request, _ in
            var validator = Validator()
            let city = request.uri.queryParameters["city"].map(String.init)
            if let city { validator.check(!city.isEmpty && city.count <= 100 && !city.contains("\0"), "city", "must be 1 to 100 characters.") }
            try validator.validate()
            return SchedulingJSON(CinemaList(items: try await cinemas.list(city: city)))
        }
        router.get("/cinemas/:id") { _, context in
            SchedulingJSON(try await cinemas.get(try SchedulingQuery.id(context, "Cinema")))
        }
        /// Opens a cinema: name, city, address, time zone (IANA), currency.
        router.post("/admin/cinemas") { request, context in
            _ = try context.require(.manageCinemas)
            let input = try await request.decodeJSON(as: CinemaInput.self, context: context)
            let cinema = try await cinemas.create(input)
            return EditedResponse(status: .created, headers: [.location: "/cinemas/\(cinema.id)"], response: SchedulingJSON(cinema))
        }
        /// Changes a cinema; absent fields stay. Its time zone then decides its days, weekdays and time slots.
        router.put("/admin/cinemas/:id") { request, context in
            _ = try context.require(.manageCinemas)
            let id = try SchedulingQuery.id(context, "Cinema")
            let input = try await request.decodeJSON(as: CinemaInput.self, context: context)
            return SchedulingJSON(try await cinemas.update(id, input))
        }
    }
}

struct CityList: Encodable, Sendable {
    var items: [City]
}

struct CinemaList: Encodable, Sendable {
    var items: [Cinema]
}
