import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PostgresClient
import Synchronization
import Testing

/// Roles per cinema: every staff route, for every role, on things of cinema A — tried by A's
/// staff and manager, by the staff and manager of another cinema B, by a customer, an admin and
/// nobody. The expected outcome of each pair is written out here (`expected`), not derived
/// from the server's own rules.
@Suite struct CinemaRolesTests {
    enum Who: String, CaseIterable, Sendable {
        case anonymous, customer, staff, manager
        case otherStaff = "staff of another cinema"
        case otherManager = "manager of another cinema"
        case admin
    }

    /// Who may use a route on cinema A's things.
    enum Rule: Sendable {
        /// Catalogue, cinemas, accounts, webhooks: chain-wide, admins only.
        case adminsOnly
        /// A's halls, showtimes and waiting rooms: A's managers and admins.
        case managers
        /// A list of them: another cinema's manager gets their own (nothing of A's).
        case managersList
        /// A's door: its staff and managers, and admins.
        case staff
        /// A's reports: another cinema's staff get their own (nothing of A's).
        case staffList
        /// Someone's booking at A: A's managers and admins; anyone else 404, as for any booking
        /// not one's own.
        case bookings
    }

    enum Outcome: Equatable, CustomStringConvertible {
        case success, successWithoutData, unauthorized, forbidden, otherCinema, notFound

        var description: String {
            switch self {
            case .success: "2xx"
            case .successWithoutData: "2xx without cinema A's data"
            case .unauthorized: "401"
            case .forbidden: "403 forbidden"
            case .otherCinema: "403 other_cinema"
            case .notFound: "404"
            }
        }
    }

    static func expected(_ rule: Rule, _ who: Who) -> Outcome {
        if who == .anonymous { return .unauthorized }
        switch (rule, who) {
        case (_, .admin): return .success
        case (.adminsOnly, _): return .forbidden
        case (.managers, .manager), (.managersList, .manager): return .success
        case (.managers, .otherManager): return .otherCinema
        case (.managersList, .otherManager): return .successWithoutData
        case (.managers, _), (.managersList, _): return .forbidden
        case (.staff, .staff), (.staff, .manager), (.staffList, .staff), (.staffList, .manager): return .success
        case (.staff, .otherStaff), (.staff, .otherManager): return .otherCinema
        case (.staffList, .otherStaff), (.staffList, .otherManager): return .successWithoutData
        case (.staff, _), (.staffList, _): return .forbidden
        case (.bookings, .manager): return .success
        case (.bookings, _): return .notFound
        }
    }

    struct Call: Sendable {
        var method: HTTPRequest.Method
        var uri: String
        var json: String?
        var body: [UInt8]?
        var headers: HTTPFields = [:]
    }

    /// Cinema A's things that the routes act on, and strings that only A's data contains.
    struct World: Sendable {
        let app: TestApp
        let admin: TestApp.User
        let users: [Who: TestApp.User]
        let cinemaA: Int
        let cinemaB: Int
        let hallA: Int
        let hallName: String
        let showtime: ShowtimeFixture
        let booking: String
        let customerEmail: String
        let supply: Supply

        /// The fixture showtime's free seats, and a counter for unique names and days.
        final class Supply: Sendable {
            let seats: Mutex<[Int]>
            let counter = Atomic<Int>(0)
            init(_ seats: [Int]) { self.seats = Mutex(seats) }
        }

        var markers: [String] { [hallName, booking, customerEmail] }

        func next() -> Int { supply.counter.add(1, ordering: .relaxed).newValue }

        /// A confirmed booking of a fresh customer at cinema A (one seat of `showtime`).
        func confirmedBooking() async throws -> (id: String, code: String) {
            let seat = try #require(supply.seats.withLock { $0.popLast() }, "the fixture showtime ran out of seats")
            let buyer = try await app.makeUser()
            let purchase = try await CheckoutTests.checkOut(app, showtime, [seat], as: buyer)
            try await CheckoutTests.callback(app, payment: purchase.paymentID, amount: purchase.amount)
            let code = try #require(try await app.request(.get, "/bookings/\(purchase.bookingID)", as: buyer).json()["ticket_code"] as? String)
            return (purchase.bookingID, code)
        }

        func freshHall() async throws -> Int {
            try await app.createHall("Hall \(UUID().uuidString.prefix(8))", as: admin)
        }

        func freshShowtime() async throws -> Int {
            let movie = try await app.createMovie("Film \(next())", as: admin)
            return try await app.createShowtime(
                movie: movie, hall: hallA, startsAt: app.cinemaTime(daysFromToday: 20 + next(), hour: 12), as: admin
            )
        }

        func created(_ call: Call) async throws -> String {
            let response = try await app.request(call.method, call.uri, as: admin, json: call.json)
            #expect(response.status == .created, "\(call.uri): \(String(buffer: response.body))")
            let id = try response.json()["id"]
            return try #require((id as? Int).map(String.init) ?? (id as? String))
        }
    }

    struct Route: Sendable {
        var operation: String
        var rule: Rule
        var call: @Sendable (World) async throws -> Call
    }

    static let routes: [Route] = [
        // Chain-wide: the catalogue, cinemas, accounts and webhooks.
        Route(operation: "POST /admin/genres", rule: .adminsOnly) { w in
            Call(method: .post, uri: "/admin/genres", json: #"{"name": "Genre \#(w.next())"}"#)
        },
        Route(operation: "PUT /admin/genres/{id}", rule: .adminsOnly) { w in
            Call(method: .put, uri: "/admin/genres/\(try await w.app.createGenre("G\(w.next())", as: w.admin))", json: #"{"name": "Genre \#(w.next())"}"#)
        },
        Route(operation: "DELETE /admin/genres/{id}", rule: .adminsOnly) { w in
            Call(method: .delete, uri: "/admin/genres/\(try await w.app.createGenre("G\(w.next())", as: w.admin))")
        },
        Route(operation: "POST /admin/movies", rule: .adminsOnly) { w in
            Call(method: .post, uri: "/admin/movies", json: #"{"title": "Film \#(w.next())", "duration_minutes": 90, "genre_ids": []}"#)
        },
        Route(operation: "PUT /admin/movies/{id}", rule: .adminsOnly) { w in
            Call(method: .put, uri: "/admin/movies/\(try await w.app.createMovie("F\(w.next())", as: w.admin))",
                 json: #"{"title": "Film \#(w.next())", "duration_minutes": 95, "genre_ids": []}"#)
        },
        Route(operation: "DELETE /admin/movies/{id}", rule: .adminsOnly) { w in
            Call(method: .delete, uri: "/admin/movies/\(try await w.app.createMovie("F\(w.next())", as: w.admin))")
        },
        Route(operation: "PUT /admin/movies/{id}/poster", rule: .adminsOnly) { w in
            Call(method: .put, uri: "/admin/movies/\(try await w.app.createMovie("F\(w.next())", as: w.admin))/poster",
                 body: CatalogueTests.png, headers: [.contentType: "image/png"])
        },
        Route(operation: "POST /admin/cinemas", rule: .adminsOnly) { w in
            Call(method: .post, uri: "/admin/cinemas", json: #"{"name": "Cinema \#(w.next())", "city": "Porto", "time_zone": "Europe/Lisbon"}"#)
        },
        Route(operation: "PUT /admin/cinemas/{id}", rule: .adminsOnly) { w in
            let id = try await w.created(Call(
                method: .post, uri: "/admin/cinemas", json: #"{"name": "Cinema \#(w.next())", "city": "Porto", "time_zone": "Europe/Lisbon"}"#
            ))
            return Call(method: .put, uri: "/admin/cinemas/\(id)", json: #"{"name": "Cinema \#(w.next())"}"#)
        },
        Route(operation: "GET /admin/users", rule: .adminsOnly) { _ in Call(method: .get, uri: "/admin/users") },
        Route(operation: "PUT /admin/users/{id}/role", rule: .adminsOnly) { w in
            Call(method: .put, uri: "/admin/users/\(try await w.app.makeUser().id.canonical)/role",
                 json: #"{"role": "staff", "cinema_id": \#(w.cinemaA)}"#)
        },
        Route(operation: "POST /admin/webhooks", rule: .adminsOnly) { _ in
            Call(method: .post, uri: "/admin/webhooks", json: #"{"url": "https://hooks.example.com/bo", "events": ["booking.confirmed"]}"#)
        },
        Route(operation: "GET /admin/webhooks", rule: .adminsOnly) { _ in Call(method: .get, uri: "/admin/webhooks") },
        Route(operation: "DELETE /admin/webhooks/{id}", rule: .adminsOnly) { w in
            Call(method: .delete, uri: "/admin/webhooks/\(try await w.webhook())")
        },
        Route(operation: "GET /admin/webhooks/{id}/deliveries", rule: .adminsOnly) { w in
            Call(method: .get, uri: "/admin/webhooks/\(try await w.webhook())/deliveries")
        },
        // A cinema's halls, showtimes and waiting rooms.
        Route(operation: "POST /admin/halls", rule: .managers) { w in
            Call(method: .post, uri: "/admin/halls",
                 json: #"{"name": "Hall \#(w.next())", "cinema_id": \#(w.cinemaA), "cleaning_minutes": 15, "layout": \#(TestApp.twoRowLayout)}"#)
        },
        Route(operation: "GET /admin/halls", rule: .managersList) { _ in Call(method: .get, uri: "/admin/halls?limit=200") },
        Route(operation: "PUT /admin/halls/{id}", rule: .managers) { w in
            Call(method: .put, uri: "/admin/halls/\(try await w.freshHall())", json: #"{"name": "Hall \#(w.next())", "cleaning_minutes": 20}"#)
        },
        Route(operation: "DELETE /admin/halls/{id}", rule: .managers) { w in
            Call(method: .delete, uri: "/admin/halls/\(try await w.freshHall())")
        },
        Route(operation: "POST /admin/showtimes", rule: .managers) { w in
            let movie = try await w.app.createMovie("F\(w.next())", as: w.admin)
            let start = w.app.cinemaTime(daysFromToday: 20 + w.next(), hour: 12).formatted(.iso8601)
            return Call(method: .post, uri: "/admin/showtimes", json: """
                {"movie_id": \(movie), "hall_id": \(w.hallA), "starts_at": "\(start)", "prices": {"standard": 900, "premium": 1400}}
                """)
        },
        Route(operation: "PUT /admin/showtimes/{id}", rule: .managers) { w in
            Call(method: .put, uri: "/admin/showtimes/\(try await w.freshShowtime())", json: #"{"prices": {"standard": 950, "premium": 1450}}"#)
        },
        Route(operation: "POST /admin/showtimes/{id}/cancel", rule: .managers) { w in
            Call(method: .post, uri: "/admin/showtimes/\(try await w.freshShowtime())/cancel")
        },
        Route(operation: "GET /admin/showtimes/{id}/queue", rule: .managers) { w in
            Call(method: .get, uri: "/admin/showtimes/\(w.showtime.id)/queue")
        },
        Route(operation: "PUT /admin/showtimes/{id}/queue", rule: .managers) { w in
            Call(method: .put, uri: "/admin/showtimes/\(w.showtime.id)/queue", json: #"{"paused": false}"#)
        },
        // Bookings, the door and the reports.
        Route(operation: "GET /admin/bookings", rule: .managersList) { _ in Call(method: .get, uri: "/admin/bookings?limit=200") },
        Route(operation: "GET /bookings/{id}", rule: .bookings) { w in Call(method: .get, uri: "/bookings/\(w.booking)") },
        Route(operation: "GET /bookings/{id}/ticket.svg", rule: .bookings) { w in Call(method: .get, uri: "/bookings/\(w.booking)/ticket.svg") },
        Route(operation: "GET /bookings/{id}/ticket.png", rule: .bookings) { w in Call(method: .get, uri: "/bookings/\(w.booking)/ticket.png") },
        Route(operation: "POST /bookings/{id}/cancel", rule: .bookings) { w in
            Call(method: .post, uri: "/bookings/\(try await w.confirmedBooking().id)/cancel")
        },
        Route(operation: "POST /admin/tickets/validate", rule: .staff) { w in
            Call(method: .post, uri: "/admin/tickets/validate", json: #"{"code": "\#(try await w.confirmedBooking().code)"}"#)
        },
        Route(operation: "GET /admin/reports/showtimes", rule: .staffList) { w in
            Call(method: .get, uri: "/admin/reports/showtimes?\(w.period)&limit=1000")
        },
        Route(operation: "GET /admin/reports/revenue", rule: .staffList) { w in
            Call(method: .get, uri: "/admin/reports/revenue?\(w.period)&group_by=hall")
        },
        Route(operation: "GET /admin/reports/reservations", rule: .staffList) { _ in
            Call(method: .get, uri: "/admin/reports/reservations?limit=1000")
        },
    ]

    static func world(_ app: TestApp) async throws -> World {
        let admin = try await app.makeUser(role: .admin)
        let cinemaA = try await app.defaultCinema()
        let cinemaB = try await CinemaTests.openCinema(app, "Elsewhere", city: "Porto", zone: "Europe/Lisbon", as: admin)
        var users: [Who: TestApp.User] = [.admin: admin, .customer: try await app.makeUser()]
        users[.staff] = try await app.makeUser(role: .staff, cinema: cinemaA)
        users[.manager] = try await app.makeUser(role: .manager, cinema: cinemaA)
        users[.otherStaff] = try await app.makeUser(role: .staff, cinema: cinemaB)
        users[.otherManager] = try await app.makeUser(role: .manager, cinema: cinemaB)
        let hallName = "Secret Hall \(UUID().uuidString.prefix(8))"
        let hallA = try await app.createHall(hallName, as: admin)
        // Today in A (the door's day): a few minutes from now, in a hall of A.
        let showtime = try await app.makeShowtime(rows: 5, seatsPerRow: 8, startsIn: 600)
        try await app.dependencies.postgres.query("UPDATE halls SET name = \(hallName + " (screen)") WHERE id = \(showtime.hallID)")
        let buyer = try await app.makeUser(email: "buyer-\(UUID().uuidString.prefix(8).lowercased())@example.com")
        let seats = showtime.allSeats
        let purchase = try await CheckoutTests.checkOut(app, showtime, [seats[0]], as: buyer)
        try await CheckoutTests.callback(app, payment: purchase.paymentID, amount: purchase.amount)
        return World(
            app: app, admin: admin, users: users, cinemaA: cinemaA, cinemaB: cinemaB, hallA: hallA, hallName: hallName,
            showtime: showtime, booking: purchase.bookingID, customerEmail: buyer.email, supply: World.Supply(Array(seats.dropFirst()))
        )
    }

    @Test func everyStaffRouteAnswersEachRoleAsDocumentedAndNeverShowsAnotherCinemasData() async throws {
        try await TestApp.run { app in
            let world = try await Self.world(app)
            for route in Self.routes {
                for who in Who.allCases {
                    let call = try await route.call(world)
                    let response = try await app.request(
                        call.method, call.uri, as: world.users[who], json: call.json, body: call.body.map { ByteBuffer(bytes: $0) },
                        headers: call.headers
                    )
                    let expected = Self.expected(route.rule, who)
                    let text = String(buffer: response.body)
                    let label = "\(route.operation) as \(who.rawValue): expected \(expected), got \(response.status.code) \(text.prefix(300))"
                    switch expected {
                    case .success, .successWithoutData:
                        #expect((200..<300).contains(response.status.code), "\(label)")
                    case .unauthorized: #expect(response.status == .unauthorized, "\(label)")
                    case .forbidden: #expect(response.status == .forbidden && response.problemCode == "forbidden", "\(label)")
                    case .otherCinema: #expect(response.status == .forbidden && response.problemCode == "other_cinema", "\(label)")
                    case .notFound: #expect(response.status == .notFound, "\(label)")
                    }
                    if expected != .success {
                        for marker in world.markers {
                            #expect(!text.contains(marker), "\(label): shows cinema A's \(marker)")
                        }
                    } else if [.managersList, .staffList].contains(route.rule) {
                        // A list that does show A's data to those who may see it.
                        #expect(world.markers.contains { text.contains($0) }, "\(label): A's data missing")
                    }
                }
            }
        }
    }

    @Test func theMatrixCoversEveryStaffRouteInTheDocument() throws {
        let staffRoutes = try OpenAPIDocumentTests.documentedOperations().filter { $0.contains(" /admin/") }
        let covered = Set(Self.routes.map(\.operation))
        #expect(staffRoutes.subtracting(covered).sorted() == [], "staff routes the matrix does not try")
        #expect(Self.routes.count == covered.count, "each route once")
    }

    @Test func aCinemasStaffReadReportsOfTheirCinemaOnlyAndAdminsChooseOne() async throws {
        try await TestApp.run { app in
            let world = try await Self.world(app)
            let staff = try #require(world.users[.staff])
            let otherStaff = try #require(world.users[.otherStaff])
            let asked = try await app.request(.get, "/admin/reports/revenue?\(world.period)&group_by=hall&cinema=\(world.cinemaB)", as: staff)
            #expect(asked.status == .forbidden)
            #expect(asked.problemCode == "other_cinema")
            let own = try await app.request(.get, "/admin/reports/revenue?\(world.period)&group_by=hall&cinema=\(world.cinemaB)", as: otherStaff)
            #expect(own.status == .ok)
            #expect(try own.json()["time_zone"] as? String == "Europe/Lisbon", "a cinema's report names its zone")
            let chosen = try await app.request(.get, "/admin/reports/showtimes?\(world.period)&cinema=\(world.cinemaB)", as: world.admin)
            #expect(chosen.status == .ok)
            #expect(!String(buffer: chosen.body).contains(world.hallName))
            let unknown = try await app.request(.get, "/admin/reports/showtimes?\(world.period)&cinema=999999", as: world.admin)
            #expect(unknown.status == .unprocessableContent)
            #expect(unknown.problemFields == ["cinema"])
        }
    }

    @Test func aRoleOfACinemaNeedsTheCinemaAndTheTokenCarriesIt() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let person = try await app.makeUser()
            let cinema = try await app.defaultCinema()
            let missing = try await app.request(.put, "/admin/users/\(person.id.canonical)/role", as: admin, json: #"{"role": "manager"}"#)
            #expect(missing.status == .unprocessableContent)
            #expect(missing.problemFields == ["cinema_id"])
            let stray = try await app.request(.put, "/admin/users/\(person.id.canonical)/role", as: admin, json: #"{"role": "admin", "cinema_id": \#(cinema)}"#)
            #expect(stray.problemFields == ["cinema_id"])
            let nowhere = try await app.request(.put, "/admin/users/\(person.id.canonical)/role", as: admin, json: #"{"role": "staff", "cinema_id": 999999}"#)
            #expect(nowhere.status == .unprocessableContent)
            #expect(nowhere.problemFields == ["cinema_id"])
            let made = try await app.request(.put, "/admin/users/\(person.id.canonical)/role", as: admin, json: #"{"role": "manager", "cinema_id": \#(cinema)}"#)
            #expect(made.status == .ok)
            #expect(try made.json()["role"] as? String == "manager")
            #expect(try made.json()["cinema_id"] as? Int == cinema)
            // Back to a customer: the cinema goes with the role.
            let back = try await app.request(.put, "/admin/users/\(person.id.canonical)/role", as: admin, json: #"{"role": "user"}"#)
            #expect(back.status == .ok)
            #expect(try back.json()["cinema_id"] == nil)

            let token = try await app.dependencies.tokens.issue(for: Identity(userID: person.id, role: .manager, cinemaID: cinema))
            #expect(try await app.dependencies.tokens.verify(token) == Identity(userID: person.id, role: .manager, cinemaID: cinema))
        }
    }
}

extension CinemaRolesTests.World {
    /// Yesterday to the day after tomorrow, in the default cinema's days.
    var period: String { "from=\(app.cinemaDay(daysFromToday: -1))&to=\(app.cinemaDay(daysFromToday: 2))" }

    func webhook() async throws -> String {
        try await created(CinemaRolesTests.Call(
            method: .post, uri: "/admin/webhooks", json: #"{"url": "https://hooks.example.com/bo", "events": ["booking.confirmed"]}"#
        ))
    }
}
