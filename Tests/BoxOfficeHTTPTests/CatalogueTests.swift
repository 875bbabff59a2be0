import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PostgresClient
import Testing

/// Genres, movies and posters, over HTTP.
@Suite(.serialized) struct CatalogueTests {
    /// The smallest byte strings each format is recognised by, padded like a real file.
    static let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array(repeating: 0x42, count: 64)
    static let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0] + Array(repeating: 0x11, count: 64)
    static let webp: [UInt8] = Array("RIFF".utf8) + [0x40, 0, 0, 0] + Array("WEBPVP8 ".utf8) + Array(repeating: 0x22, count: 64)

    private func uploadPoster(
        _ app: TestApp, movie: Int, bytes: [UInt8], contentType: String?, as admin: TestApp.User
    ) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let contentType { headers[.contentType] = contentType }
        return try await app.request(.put, "/admin/movies/\(movie)/poster", as: admin, body: ByteBuffer(bytes: bytes), headers: headers)
    }

    // MARK: - Genres

    @Test func genresAreCreatedRenamedListedAndDeleted() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let drama = try await app.createGenre("Drama", as: admin)
            let comedy = try await app.createGenre("comedy", as: admin)

            let renamed = try await app.request(.put, "/admin/genres/\(drama)", as: admin, json: #"{"name": "Melodrama"}"#)
            #expect(renamed.status == .ok)
            #expect(try renamed.json()["name"] as? String == "Melodrama")

            let list = try await app.request(.get, "/genres")
            #expect(list.status == .ok)
            let names = (try list.json()["items"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            #expect(names == ["comedy", "Melodrama"])

            #expect(try await app.request(.delete, "/admin/genres/\(comedy)", as: admin).status == .noContent)
            #expect(try await app.request(.get, "/genres").itemIDs == [drama])
            let again = try await app.request(.delete, "/admin/genres/\(comedy)", as: admin)
            #expect(again.status == .notFound)
            #expect(again.problemCode == "not_found")
        }
    }

    @Test func aGenreNameIsUniqueRegardlessOfCaseAndRequired() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            _ = try await app.createGenre("Horror", as: admin)
            let duplicate = try await app.request(.post, "/admin/genres", as: admin, json: #"{"name": " HORROR "}"#)
            #expect(duplicate.status == .conflict)
            #expect(duplicate.problemCode == "genre_exists")
            let empty = try await app.request(.post, "/admin/genres", as: admin, json: #"{"name": "  "}"#)
            #expect(empty.status == .unprocessableContent)
            #expect(empty.problemFields == ["name"])
        }
    }

    // MARK: - Movies

    @Test func moviesAreCreatedReadReplacedAndDeleted() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let drama = try await app.createGenre("Drama", as: admin)
            let crime = try await app.createGenre("Crime", as: admin)
            let created = try await app.request(.post, "/admin/movies", as: admin, json: """
                {"title": "  The Third Man ", "description": "Vienna, 1949.", "duration_minutes": 104,
                 "age_rating": "12", "release_year": 1949, "genre_ids": [\(drama), \(crime), \(drama)]}
                """)
            #expect(created.status == .created)
            let movie = try created.json()
            let id = try #require(movie["id"] as? Int)
            #expect(movie["title"] as? String == "The Third Man")
            #expect(movie["duration_minutes"] as? Int == 104)
            #expect(movie["age_rating"] as? String == "12")
            #expect(movie["release_year"] as? Int == 1949)
            #expect((movie["genres"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String } == ["Crime", "Drama"])
            #expect(movie.keys.contains("poster_url"))
            #expect(movie["poster_url"] is NSNull)

            let read = try await app.request(.get, "/movies/\(id)")
            #expect(read.status == .ok)
            #expect(try read.json()["title"] as? String == "The Third Man")
            #expect((try read.json()["showtimes"] as? [Any])?.isEmpty == true)

            let replaced = try await app.request(.put, "/admin/movies/\(id)", as: admin, json: """
                {"title": "The Third Man (restored)", "duration_minutes": 105, "age_rating": null, "genre_ids": []}
                """)
            #expect(replaced.status == .ok)
            let after = try replaced.json()
            #expect(after["title"] as? String == "The Third Man (restored)")
            #expect(after["age_rating"] is NSNull)
            #expect((after["genres"] as? [Any])?.isEmpty == true)

            #expect(try await app.request(.delete, "/admin/movies/\(id)", as: admin).status == .noContent)
            let gone = try await app.request(.get, "/movies/\(id)")
            #expect(gone.status == .notFound)
            #expect(gone.problemCode == "not_found")
        }
    }

    @Test func aMovieWithBadFieldsIs422NamingEachOfThem() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let response = try await app.request(.post, "/admin/movies", as: admin, json: """
                {"title": "", "duration_minutes": 0, "release_year": 1700}
                """)
            #expect(response.status == .unprocessableContent)
            #expect(response.problemCode == "validation_failed")
            #expect(response.problemFields == ["title", "duration_minutes", "release_year", "genre_ids"])
        }
    }

    @Test func aMovieNamingAnUnknownGenreIs422ListingIt() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let response = try await app.request(.post, "/admin/movies", as: admin, json: """
                {"title": "Nowhere", "duration_minutes": 90, "genre_ids": [9999]}
                """)
            #expect(response.status == .unprocessableContent)
            #expect(response.problemFields == ["genre_ids"])
            #expect(try response.json()["unknown_genre_ids"] as? [Int] == [9999])
        }
    }

    @Test func deletingAMovieWithBookedUpcomingShowtimesIs409NamingThem() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let customer = try await app.makeUser()
            let movie = try await app.createMovie("Popular", as: admin)
            let hall = try await app.createHall("Hall 1", as: admin)
            let booked = try await app.createShowtime(movie: movie, hall: hall, startsAt: app.cinemaTime(daysFromToday: 3, hour: 20), as: admin)
            _ = try await app.createShowtime(movie: movie, hall: hall, startsAt: app.cinemaTime(daysFromToday: 4, hour: 20), as: admin)
            try await app.insertBooking(showtime: booked, by: customer)

            let refused = try await app.request(.delete, "/admin/movies/\(movie)", as: admin)
            #expect(refused.status == .conflict)
            #expect(refused.problemCode == "movie_has_bookings")
            let body = try refused.json()
            #expect(body["showtime_ids"] as? [Int] == [booked])
            #expect((body["detail"] as? String)?.contains("\(booked)") == true)
            // Nothing was removed.
            #expect(try await app.request(.get, "/movies/\(movie)").status == .ok)
            #expect(try await app.request(.get, "/showtimes/\(booked)").status == .ok)
        }
    }

    @Test func deletingAMovieWhoseShowtimesHaveOnlyDeadBookingsArchivesIt() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let customer = try await app.makeUser()
            let movie = try await app.createMovie("Flop", as: admin)
            let hall = try await app.createHall("Hall 1", as: admin)
            let showtime = try await app.createShowtime(movie: movie, hall: hall, startsAt: app.cinemaTime(daysFromToday: 3, hour: 20), as: admin)
            try await app.insertBooking(showtime: showtime, by: customer, status: "expired")

            #expect(try await app.request(.delete, "/admin/movies/\(movie)", as: admin).status == .noContent)
            #expect(try await app.request(.get, "/movies/\(movie)").status == .notFound)
            #expect(try await app.request(.get, "/movies").itemIDs.isEmpty)
            let status = try await app.request(.get, "/showtimes/\(showtime)").json()["status"] as? String
            #expect(status == "cancelled")
            // Nothing new may be scheduled for it.
            let again = try await app.scheduleShowtime(movie: movie, hall: hall, startsAt: app.cinemaTime(daysFromToday: 5, hour: 20), as: admin)
            #expect(again.status == .unprocessableContent)
            #expect(again.problemFields == ["movie_id"])
        }
    }

    /// PostgreSQL text cannot hold NUL: such input is named as invalid, never a 500.
    @Test func textWithANULCharacterIs422NamingTheField() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let genre = try await app.request(.post, "/admin/genres", as: admin, json: #"{"name": "Dra\u0000ma"}"#)
            #expect(genre.status == .unprocessableContent)
            #expect(genre.problemFields == ["name"])
            let movie = try await app.request(.post, "/admin/movies", as: admin, json: """
                {"title": "A\\u0000", "description": "B\\u0000", "age_rating": "1\\u00002", "duration_minutes": 90, "genre_ids": []}
                """)
            #expect(movie.status == .unprocessableContent)
            #expect(movie.problemFields == ["title", "description", "age_rating"])
            let search = try await app.request(.get, "/movies?q=a%00b")
            #expect(search.status == .unprocessableContent)
            #expect(search.problemFields == ["q"])
        }
    }

    // MARK: - Posters

    @Test func pngJpegAndWebpPostersAreRecognisedByTheirBytes() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let movie = try await app.createMovie("Posterchild", as: admin)
            for (bytes, type) in [(Self.png, "image/png"), (Self.jpeg, "image/jpeg"), (Self.webp, "image/webp")] {
                // No Content-Type, or a generic one: the bytes decide.
                let upload = try await uploadPoster(app, movie: movie, bytes: bytes, contentType: "application/octet-stream", as: admin)
                #expect(upload.status == .ok, "\(type): \(String(buffer: upload.body))")
                let posterURL = try #require(try upload.json()["poster_url"] as? String)
                #expect(posterURL.hasPrefix("/movies/\(movie)/poster"))

                let served = try await app.request(.get, posterURL)
                #expect(served.status == .ok)
                #expect(served.headers[.contentType] == type)
                #expect(Array(served.body.readableBytesView) == bytes)
            }
        }
    }

    @Test func aTextFileClaimingToBeAPngIsRefused() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let movie = try await app.createMovie("Fake", as: admin)
            let fake = try await uploadPoster(app, movie: movie, bytes: Array("definitely a PNG, trust me".utf8), contentType: "image/png", as: admin)
            #expect(fake.status == .unsupportedMediaType)
            #expect(fake.problemCode == "unsupported_image")
            #expect(fake.headers[.contentType] == "application/problem+json")

            let mismatch = try await uploadPoster(app, movie: movie, bytes: Self.jpeg, contentType: "image/png", as: admin)
            #expect(mismatch.status == .unsupportedMediaType)
            #expect(mismatch.problemCode == "image_type_mismatch")

            let movieJSON = try await app.request(.get, "/movies/\(movie)").json()
            #expect(movieJSON["poster_url"] is NSNull)
            #expect(try await app.request(.get, "/movies/\(movie)/poster").status == .notFound)
        }
    }

    @Test func aPosterOverFiveMegabytesIs413() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let movie = try await app.createMovie("Huge", as: admin)
            let bytes = Self.png + Array(repeating: 0, count: PosterStore.maximumBytes)
            let response = try await uploadPoster(app, movie: movie, bytes: bytes, contentType: "image/png", as: admin)
            #expect(response.status == .contentTooLarge)
            #expect(response.problemCode == "body_too_large")
            // Exactly the limit is fine.
            let atLimit = Self.png + Array(repeating: 0, count: PosterStore.maximumBytes - Self.png.count)
            #expect(try await uploadPoster(app, movie: movie, bytes: atLimit, contentType: "image/png", as: admin).status == .ok)
        }
    }

    @Test func thePosterIsServedWithAnETagAndCacheControlAnd304WhenUnchanged() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let movie = try await app.createMovie("Cached", as: admin)
            #expect(try await uploadPoster(app, movie: movie, bytes: Self.png, contentType: "image/png", as: admin).status == .ok)

            let first = try await app.request(.get, "/movies/\(movie)/poster")
            #expect(first.status == .ok)
            let etag = try #require(first.headers[.eTag])
            #expect(first.headers[.cacheControl]?.contains("max-age") == true)

            let again = try await app.request(.get, "/movies/\(movie)/poster", headers: [.ifNoneMatch: etag])
            #expect(again.status == .notModified)
            #expect(again.body.readableBytes == 0)
            #expect(again.headers[.eTag] == etag)

            // A new image has a new tag and a new URL.
            let url = try await app.request(.get, "/movies/\(movie)").json()["poster_url"] as? String
            let replaced = try await uploadPoster(app, movie: movie, bytes: Self.jpeg, contentType: nil, as: admin)
            #expect(try replaced.json()["poster_url"] as? String != url)
            let stale = try await app.request(.get, "/movies/\(movie)/poster", headers: [.ifNoneMatch: etag])
            #expect(stale.status == .ok)
            #expect(stale.headers[.eTag] != etag)
        }
    }

    @Test func aPosterForAnUnknownMovieIs404() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let response = try await uploadPoster(app, movie: 424242, bytes: Self.png, contentType: "image/png", as: admin)
            #expect(response.status == .notFound)
        }
    }

    // MARK: - The public list

    @Test func moviesAreFilteredByGenreTitleAndShowingDayAndPaged() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let noir = try await app.createGenre("Noir", as: admin)
            let heat = try await app.createMovie("Heat", as: admin, genreIDs: [noir])
            let notorious = try await app.createMovie("Notorious", as: admin, genreIDs: [noir])
            let up = try await app.createMovie("Up", as: admin)
            let vertigo = try await app.createMovie("100% Vertigo", as: admin)
            let hall = try await app.createHall("Hall 1", as: admin)
            _ = try await app.createShowtime(movie: up, hall: hall, startsAt: app.cinemaTime(daysFromToday: 5, hour: 18), as: admin)

            let all = try await app.request(.get, "/movies")
            #expect(all.itemIDs == [vertigo, heat, notorious, up])
            #expect(try all.json()["total"] as? Int == 4)

            #expect(try await app.request(.get, "/movies?genre=\(noir)").itemIDs == [heat, notorious])
            #expect(try await app.request(.get, "/movies?q=OT").itemIDs == [notorious])
            // `%` is a character here, not a wildcard.
            #expect(try await app.request(.get, "/movies?q=0%25").itemIDs == [vertigo])
            #expect(try await app.request(.get, "/movies?showing_on=\(app.cinemaDay(daysFromToday: 5))").itemIDs == [up])
            #expect(try await app.request(.get, "/movies?showing_on=\(app.cinemaDay(daysFromToday: 6))").itemIDs.isEmpty)

            let page = try await app.request(.get, "/movies?limit=2&offset=1")
            #expect(page.itemIDs == [heat, notorious])
            let pageBody = try page.json()
            #expect(pageBody["total"] as? Int == 4)
            #expect(pageBody["limit"] as? Int == 2)
            #expect(pageBody["offset"] as? Int == 1)
            let beyond = try await app.request(.get, "/movies?offset=10")
            #expect(beyond.itemIDs.isEmpty)
            #expect(try beyond.json()["total"] as? Int == 4)
        }
    }

    @Test func badListParametersAre422NamingEach() async throws {
        try await TestApp.run { app in
            let response = try await app.request(.get, "/movies?limit=0&offset=-1&genre=x&showing_on=2026-02-30")
            #expect(response.status == .unprocessableContent)
            #expect(response.problemFields == ["limit", "offset", "genre", "showing_on"])
        }
    }

    @Test func aMoviesPageListsItsUpcomingShowtimesOnly() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let movie = try await app.createMovie("Metropolis", as: admin)
            let hall = try await app.createHall("Hall 1", as: admin)
            let later = try await app.createShowtime(movie: movie, hall: hall, startsAt: app.cinemaTime(daysFromToday: 6, hour: 20), as: admin)
            let sooner = try await app.createShowtime(movie: movie, hall: hall, startsAt: app.cinemaTime(daysFromToday: 2, hour: 20), as: admin)
            let cancelled = try await app.createShowtime(movie: movie, hall: hall, startsAt: app.cinemaTime(daysFromToday: 3, hour: 20), as: admin)
            #expect(try await app.request(.post, "/admin/showtimes/\(cancelled)/cancel", as: admin).status == .ok)

            let page = try await app.request(.get, "/movies/\(movie)").json()
            let showtimes = page["showtimes"] as? [[String: Any]] ?? []
            #expect(showtimes.compactMap { $0["id"] as? Int } == [sooner, later])
            #expect((showtimes.first?["hall"] as? [String: Any])?["name"] as? String == "Hall 1")
            #expect(showtimes.first?["starts_at"] as? String == SchedulingTime.format(app.cinemaTime(daysFromToday: 2, hour: 20)))
        }
    }
}
