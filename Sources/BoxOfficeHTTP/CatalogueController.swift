import BoxOffice
import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore

/// Genres, movies and posters: admins edit the catalogue, everyone reads it.
public struct CatalogueController: Sendable {
    let genres: GenreStore
    let movies: MovieStore
    let posters: PosterStore

    public init(_ dependencies: AppDependencies) {
        let posters = PosterStore(postgres: dependencies.postgres, directory: dependencies.settings.posterDirectory)
        self.genres = GenreStore(postgres: dependencies.postgres)
        self.movies = MovieStore(
            postgres: dependencies.postgres, timeZone: dependencies.settings.timeZone, posters: posters, holds: dependencies.holds
        )
        self.posters = posters
    }

    public func addRoutes(to router: Router<AppRequestContext>) {
        /// Every genre, by name.
        router.get("/genres") { _, _ in
            GenreList(items: try await genres.all().map(GenreBody.init))
        }
        /// Creates a genre: 201, or 409 `genre_exists`.
        router.post("/admin/genres") { request, context in
            _ = try context.require(.manageCatalogue)
            let body = try await decode(GenreInput.self, from: request, context: context)
            return EditedResponse(status: .created, response: GenreBody(try await genres.create(name: body.name ?? "")))
        }
        /// Renames a genre: 404 when unknown, 409 `genre_exists` when the name is taken.
        router.put("/admin/genres/:id") { request, context in
            _ = try context.require(.manageCatalogue)
            let id = try Self.id(context, "Genre")
            let body = try await decode(GenreInput.self, from: request, context: context)
            return GenreBody(try await genres.rename(id: id, to: body.name ?? ""))
        }
        /// Deletes a genre (movies lose it): 204.
        router.delete("/admin/genres/:id") { _, context in
            _ = try context.require(.manageCatalogue)
            try await genres.delete(id: try Self.id(context, "Genre"))
            return HTTPResponse.Status.noContent
        }

        /// Creates a movie: 201 with it; 422 naming unknown genre ids.
        router.post("/admin/movies") { request, context in
            _ = try context.require(.manageCatalogue)
            let input = try await decode(MovieInput.self, from: request, context: context)
            return EditedResponse(status: .created, response: MovieBody(try await movies.create(input)))
        }
        /// Replaces a movie's fields and genres (the poster stays).
        router.put("/admin/movies/:id") { request, context in
            _ = try context.require(.manageCatalogue)
            let id = try Self.id(context, "Movie")
            let input = try await decode(MovieInput.self, from: request, context: context)
            return MovieBody(try await movies.replace(id: id, with: input))
        }
        /// Deletes (or, when past bookings keep it, archives) a movie: 204; 409
        /// `movie_has_bookings` naming the upcoming showtimes with bookings.
        router.delete("/admin/movies/:id") { _, context in
            _ = try context.require(.manageCatalogue)
            try await movies.delete(id: try Self.id(context, "Movie"))
            return HTTPResponse.Status.noContent
        }
        /// Sets the poster from the raw PNG, JPEG or WebP body (at most 5 MB): the movie.
        router.put("/admin/movies/:id/poster") { request, context in
            _ = try context.require(.manageCatalogue)
            let id = try Self.id(context, "Movie")
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: PosterStore.maximumBytes)
            } catch is NIOTooManyBytesError {
                throw Problem(.contentTooLarge, code: "body_too_large", message: "A poster may be at most 5 MB.")
            }
            do {
                _ = try await posters.save(
                    movieID: id, bytes: Array(body.readableBytesView), declaredContentType: request.headers[.contentType])
            } catch let error as PosterImageError {
                throw Problem(.unsupportedMediaType, code: error.code, message: error.message)
            }
            return MovieBody(try await movies.movie(id: id))
        }

        /// Movies, by title: `?genre=`, `?q=` (in the title), `?showing_on=YYYY-MM-DD`, `?limit=`, `?offset=`.
        router.get("/movies") { request, _ in
            let page = try await movies.list(try Self.listQuery { request.uri.queryParameters.get($0) })
            return MovieList(items: page.items.map { MovieBody($0) }, total: page.total, limit: page.limit, offset: page.offset)
        }
        /// A movie with its upcoming showtimes; 404 when unknown or archived.
        router.get("/movies/:id") { _, context in
            let id = try Self.id(context, "Movie")
            let movie = try await movies.movie(id: id)
            return MovieBody(movie, showtimes: try await movies.upcomingShowtimes(movieID: id).map(ShowtimeBody.init))
        }
        /// The poster's bytes with `ETag` and `Cache-Control`; 304 on a matching `If-None-Match`.
        router.get("/movies/:id/poster") { request, context in
            let poster = try await posters.poster(movieID: try Self.id(context, "Movie"))
            var headers: HTTPFields = [.eTag: "\"\(poster.etag)\"", .cacheControl: "public, max-age=86400"]
            if Self.matches(request.headers[values: .ifNoneMatch], etag: poster.etag) {
                return Response(status: .notModified, headers: headers)
            }
            let data = try await posters.bytes(of: poster)
            headers[.contentType] = poster.contentType
            headers[.contentLength] = String(data.count)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
    }

    // MARK: - Reading requests

    /// The body as JSON; a body beyond the context's limit is 413 rather than a failure.
    private func decode<T: Decodable>(_ type: T.Type, from request: Request, context: AppRequestContext) async throws -> T {
        do {
            return try await request.decodeJSON(as: type, context: context)
        } catch is NIOTooManyBytesError {
            throw Problem(.contentTooLarge, code: "body_too_large", message: "The request body is larger than \(context.maxUploadSize) bytes.")
        }
    }

    /// The `:id` path parameter; anything but an integer names nothing, so 404.
    private static func id(_ context: AppRequestContext, _ what: String) throws(BoxOfficeError) -> Int {
        guard let text = context.parameters.get("id"), let id = Int(text) else {
            throw BoxOfficeError.notFound("\(what) '\(context.parameters.get("id") ?? "")'")
        }
        return id
    }

    static func listQuery(_ parameter: (String) -> String?) throws(BoxOfficeError) -> MovieListQuery {
        var validator = Validator()
        func integer(_ name: String, default value: Int?, in range: ClosedRange<Int>) -> Int? {
            guard let text = parameter(name) else { return value }
            guard let number = Int(text), range.contains(number) else {
                validator.check(false, name, range.upperBound == .max
                    ? "must be an integer of at least \(range.lowerBound)"
                    : "must be an integer from \(range.lowerBound) to \(range.upperBound)")
                return value
            }
            return number
        }
        var query = MovieListQuery()
        query.limit = integer("limit", default: MovieListQuery.defaultLimit, in: 1...MovieListQuery.maximumLimit)!
        query.offset = integer("offset", default: 0, in: SchedulingQuery.offsets)!
        query.genreID = integer("genre", default: nil, in: 1...Int.max)
        if let text = parameter("q")?.trimmingCharacters(in: CharacterSet.whitespaces), !text.isEmpty {
            validator.check(text.count <= 200, "q", "must be at most 200 characters")
            validator.check(!text.unicodeScalars.contains("\0"), "q", "must not contain NUL characters")
            query.titleContains = text
        }
        if let text = parameter("showing_on") {
            query.showingOn = ShowingDay(text)
            validator.check(query.showingOn != nil, "showing_on", "must be a date such as 2026-05-01")
        }
        try validator.validate()
        return query
    }

    /// `If-None-Match`: `*`, or a list of (possibly weak) tags, one of which is ours.
    static func matches(_ values: [String], etag: String) -> Bool {
        values.flatMap { $0.split(separator: ",") }.contains { candidate in
            var tag = candidate.trimmingCharacters(in: CharacterSet.whitespaces)
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            return tag == "\"\(etag)\""
        }
    }
}

// MARK: - Bodies

private struct GenreInput: Decodable {
    var name: String?
}

private struct GenreBody: ResponseEncodable {
    var id: Int
    var name: String

    init(_ genre: Genre) {
        self.id = genre.id
        self.name = genre.name
    }
}

private struct GenreList: ResponseEncodable {
    var items: [GenreBody]
}

private struct ShowtimeBody: ResponseEncodable {
    struct Hall: Encodable {
        var id: Int
        var name: String
    }

    var id: Int
    var startsAt: Date
    var endsAt: Date
    var hall: Hall

    enum CodingKeys: String, CodingKey {
        case id, hall
        case startsAt = "starts_at"
        case endsAt = "ends_at"
    }

    init(_ showtime: MovieShowtime) {
        self.id = showtime.id
        self.startsAt = showtime.startsAt
        self.endsAt = showtime.endsAt
        self.hall = Hall(id: showtime.hall.id, name: showtime.hall.name)
    }
}

private struct MovieBody: ResponseEncodable {
    var movie: Movie
    /// Only on a movie's own page.
    var showtimes: [ShowtimeBody]?

    init(_ movie: Movie, showtimes: [ShowtimeBody]? = nil) {
        self.movie = movie
        self.showtimes = showtimes
    }

    enum CodingKeys: String, CodingKey {
        case id, title, description, genres, showtimes
        case durationMinutes = "duration_minutes"
        case ageRating = "age_rating"
        case releaseYear = "release_year"
        case posterURL = "poster_url"
    }

    /// Stable while the image is: the hash in the query changes with it, so caches may keep it.
    var posterURL: String? {
        movie.posterETag.map { "/movies/\(movie.id)/poster?v=\($0.prefix(12))" }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(movie.id, forKey: .id)
        try container.encode(movie.title, forKey: .title)
        try container.encode(movie.description, forKey: .description)
        try container.encode(movie.durationMinutes, forKey: .durationMinutes)
        // Absent values are null, not missing: clients see every field of a movie.
        try container.encode(movie.ageRating, forKey: .ageRating)
        try container.encode(movie.releaseYear, forKey: .releaseYear)
        try container.encode(movie.genres.map(GenreBody.init), forKey: .genres)
        try container.encode(posterURL, forKey: .posterURL)
        try container.encodeIfPresent(showtimes, forKey: .showtimes)
    }
}

private struct MovieList: ResponseEncodable {
    var items: [MovieBody]
    var total: Int
    var limit: Int
    var offset: Int
}
