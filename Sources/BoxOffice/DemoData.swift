public import Foundation
public import PostgresClient

/// A small chain to try the service with: genres, movies, three cinemas in two cities (one in
/// another time zone) with four halls, and a week of
/// showtimes from tomorrow on. Seeding is skipped when movies exist already.
public struct DemoData: Sendable {
    let postgres: PostgresPool
    let settings: BoxOfficeSettings

    public init(postgres: PostgresPool, settings: BoxOfficeSettings) {
        self.postgres = postgres
        self.settings = settings
    }

    /// What was made, in one line; nil when the catalogue was not empty.
    public func seed(days: Int = 7, now: Date = Date()) async throws -> String? {
        let existing = try await postgres.query("SELECT count(*) AS n FROM movies").first!.decode(Int.self, column: "n")
        guard existing == 0 else { return nil }

        let genreStore = GenreStore(postgres: postgres)
        var genres: [String: Int] = [:]
        for name in ["Drama", "Science Fiction", "Comedy", "Animation", "Thriller"] {
            genres[name] = try await genreStore.create(name: name).id
        }
        let movieStore = MovieStore(
            postgres: postgres, timeZone: settings.timeZone,
            posters: PosterStore(postgres: postgres, directory: settings.posterDirectory)
        )
        let films: [(String, String, Int, String, [String])] = [
            ("The Long Premiere", "A cinema prepares for the night everyone wants a seat.", 128, "12", ["Drama"]),
            ("Orbit of Seats", "Twelve strangers, one last row, and a hold that will not expire.", 141, "12", ["Science Fiction", "Thriller"]),
            ("Popcorn Protocol", "An usher discovers the concession stand runs the world.", 97, "6", ["Comedy"]),
            ("Paper Lanterns", "A hand-drawn journey across a city of lights.", 88, "0", ["Animation"]),
        ]
        var movieIDs: [Int] = []
        for (title, description, minutes, rating, genreNames) in films {
            movieIDs.append(try await movieStore.create(MovieInput(
                title: title, description: description, durationMinutes: minutes, ageRating: rating,
                releaseYear: 2026, genreIDs: genreNames.compactMap { genres[$0] }
            )).id)
        }

        let halls = HallStore(postgres: postgres)
        let grand = try await halls.create(HallInput(name: "Grand", cleaningMinutes: 20, layout: LayoutInput(grid: .init(
            rows: 12, seatsPerRow: 20, aislesAfter: [4, 16],
            categories: [.init(rows: ["F", "G", "H"], category: "premium"), .init(rows: ["L"], category: "accessible")],
            defaultCategory: "standard"
        ))))
        let studio = try await halls.create(HallInput(name: "Studio", cleaningMinutes: 15, layout: LayoutInput(grid: .init(
            rows: 6, seatsPerRow: 10, aislesAfter: [5],
            categories: [.init(rows: ["D"], category: "premium")], defaultCategory: "standard"
        ))))

        // Two more cinemas: one across town, one in another city and time zone.
        let cinemas = CinemaStore(postgres: postgres)
        let kreuzberg = try await cinemas.create(CinemaInput(
            name: "BoxOffice Kreuzberg", city: "Berlin", address: "Oranienstraße 1", timeZone: settings.timeZone.identifier, currency: "EUR"
        ))
        let lisboa = try await cinemas.create(CinemaInput(
            name: "BoxOffice Lisboa", city: "Lisbon", address: "Avenida da Liberdade 1", timeZone: "Europe/Lisbon", currency: "EUR"
        ))
        var kino = HallInput(name: "Kino", cleaningMinutes: 15, layout: LayoutInput(grid: .init(
            rows: 8, seatsPerRow: 12, aislesAfter: [6], categories: [.init(rows: ["E"], category: "premium")], defaultCategory: "standard"
        )))
        kino.cinemaID = kreuzberg.id
        var sala = HallInput(name: "Sala 1", cleaningMinutes: 15, layout: LayoutInput(grid: .init(
            rows: 8, seatsPerRow: 14, aislesAfter: [7], categories: [.init(rows: ["E"], category: "premium")], defaultCategory: "standard"
        )))
        sala.cinemaID = lisboa.id
        let kreuzbergHall = try await halls.create(kino)
        let lisboaHall = try await halls.create(sala)
        var lisbonCalendar = Calendar(identifier: .gregorian)
        lisbonCalendar.timeZone = TimeZone(identifier: "Europe/Lisbon")!

        let showtimes = ShowtimeStore(postgres: postgres)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = settings.timeZone
        let tomorrow = calendar.startOfDay(for: now.addingTimeInterval(86_400))
        let formatter = ISO8601DateFormatter()
        var count = 0
        for day in 0..<days {
            let date = calendar.date(byAdding: .day, value: day, to: tomorrow)!
            let grandPrices = ["standard": 1100, "premium": 1500, "accessible": 900]
            let studioPrices = ["standard": 1000, "premium": 1300]
            for (hall, hours, prices) in [(grand.id, [14, 17, 20], grandPrices), (studio.id, [15, 18, 21], studioPrices)] {
                for (slot, hour) in hours.enumerated() {
                    let start = calendar.date(bySettingHour: hour, minute: 30, second: 0, of: date)!
                    let movie = movieIDs[(day + slot + hall) % movieIDs.count]
                    _ = try await showtimes.create(ShowtimeInput(
                        movieID: movie, hallID: hall, startsAt: formatter.string(from: start), currency: "EUR",
                        prices: prices
                    ), now: now)
                    count += 1
                }
            }
            let smallPrices = ["standard": 1000, "premium": 1300]
            let berlinEvening = calendar.date(bySettingHour: 19, minute: 45, second: 0, of: date)!
            let lisbonDay = lisbonCalendar.date(from: calendar.dateComponents([.year, .month, .day], from: date))!
            let lisbonEvening = lisbonCalendar.date(bySettingHour: 19, minute: 0, second: 0, of: lisbonDay)!
            for (hall, start) in [(kreuzbergHall.id, berlinEvening), (lisboaHall.id, lisbonEvening)] {
                _ = try await showtimes.create(ShowtimeInput(
                    movieID: movieIDs[(day + hall) % movieIDs.count], hallID: hall, startsAt: formatter.string(from: start),
                    currency: "EUR", prices: smallPrices
                ), now: now)
                count += 1
            }
        }
        return "Seeded \(genres.count) genres, \(movieIDs.count) movies, 3 cinemas in 2 cities, 4 halls and \(count) showtimes."
    }
}
