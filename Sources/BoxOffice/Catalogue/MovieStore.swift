public import Foundation
public import PostgresClient

/// Movies in PostgreSQL: the admin's writes and the public reads.
public struct MovieStore: Sendable {
    let postgres: PostgresPool
    let timeZone: TimeZone
    let posters: PosterStore
    /// Closes in Redis the showtimes that archiving a movie cancels (nil: the outbox sweep does, within seconds).
    let holds: HoldService?

    /// `timeZone` says when a day (`showing_on`) starts; `posters` removes a deleted movie's file.
    public init(postgres: PostgresPool, timeZone: TimeZone, posters: PosterStore, holds: HoldService? = nil) {
        self.postgres = postgres
        self.timeZone = timeZone
        self.posters = posters
        self.holds = holds
    }

    /// The one reading of a movie with its genres: every query that returns movies selects
    /// this and adds its own `WHERE`, so that the JSON of a movie never depends on the route.
    static let selectMovie = """
        SELECT m.id, m.title, m.description, m.duration_minutes, m.age_rating, m.release_year, m.poster_etag,
               g.ids AS genre_ids, g.names AS genre_names
        FROM movies m
        CROSS JOIN LATERAL (
            SELECT coalesce(array_agg(genres.id ORDER BY lower(genres.name), genres.id), '{}') AS ids,
                   coalesce(array_agg(genres.name ORDER BY lower(genres.name), genres.id), '{}') AS names
            FROM movie_genres JOIN genres ON genres.id = movie_genres.genre_id
            WHERE movie_genres.movie_id = m.id
        ) g
        """

    static func movie(_ row: PostgresRow) throws -> Movie {
        let genreIDs = try row.decode([Int].self, column: "genre_ids")
        let genreNames = try row.decode([String].self, column: "genre_names")
        return Movie(
            id: try row.decode(Int.self, column: "id"),
            title: try row.decode(String.self, column: "title"),
            description: try row.decode(String.self, column: "description"),
            durationMinutes: try row.decode(Int.self, column: "duration_minutes"),
            ageRating: try row.decode(String?.self, column: "age_rating"),
            releaseYear: try row.decode(Int?.self, column: "release_year"),
            genres: zip(genreIDs, genreNames).map { Genre(id: $0, name: $1) },
            posterETag: try row.decode(String?.self, column: "poster_etag")
        )
    }

    // MARK: - Reading

    /// A movie that is not archived, or 404.
    public func movie(id: Int) async throws -> Movie {
        try await Self.movie(id: id, on: postgres.query)
    }

    private static func movie(id: Int, on query: (PostgresQuery) async throws -> PostgresRows) async throws -> Movie {
        let rows = try await query("\(unescaped: selectMovie) WHERE m.id = \(id) AND m.archived_at IS NULL")
        guard let row = rows.first else { throw BoxOfficeError.notFound("Movie \(id)") }
        return try movie(row)
    }

    /// The movie's scheduled showtimes that have not started yet, soonest first.
    public func upcomingShowtimes(movieID: Int) async throws -> [MovieShowtime] {
        let rows = try await postgres.query("""
            SELECT s.id, s.starts_at, s.ends_at, h.id AS hall_id, h.name AS hall_name
            FROM showtimes s JOIN halls h ON h.id = s.hall_id
            WHERE s.movie_id = \(movieID) AND s.status = 'scheduled' AND s.starts_at > now()
            ORDER BY s.starts_at, s.id
            """)
        return try rows.map { row in
            MovieShowtime(
                id: try row.decode(Int.self, column: "id"),
                startsAt: try row.decode(Date.self, column: "starts_at"),
                endsAt: try row.decode(Date.self, column: "ends_at"),
                hall: .init(id: try row.decode(Int.self, column: "hall_id"), name: try row.decode(String.self, column: "hall_name"))
            )
        }
    }

    /// One page of the movies that are not archived and match every given filter, by title.
    public func list(_ query: MovieListQuery) async throws -> MoviePage {
        let pattern = query.titleContains.map(MovieListQuery.likePattern(containing:))
        let day = query.showingOn.map { $0.interval(in: timeZone) }
        // The count comes from the same filter in the same statement; the LEFT JOIN keeps
        // one row carrying it when the page itself is empty.
        let rows = try await postgres.query("""
            WITH matching AS (
                SELECT m.id, m.title FROM movies m
                WHERE m.archived_at IS NULL
                  AND (\(query.genreID)::bigint IS NULL OR EXISTS (
                        SELECT 1 FROM movie_genres mg WHERE mg.movie_id = m.id AND mg.genre_id = \(query.genreID)))
                  AND (\(pattern)::text IS NULL OR m.title ILIKE \(pattern) ESCAPE '\\')
                  AND (\(day?.start)::timestamptz IS NULL OR EXISTS (
                        SELECT 1 FROM showtimes s
                        WHERE s.movie_id = m.id AND s.status = 'scheduled'
                          AND s.starts_at >= \(day?.start) AND s.starts_at < \(day?.end)))
            ), page AS (
                SELECT id FROM matching ORDER BY lower(title), id LIMIT \(query.limit) OFFSET \(query.offset)
            )
            SELECT counted.total, listed.*
            FROM (SELECT count(*) AS total FROM matching) counted
            LEFT JOIN (\(unescaped: Self.selectMovie) WHERE m.id IN (SELECT id FROM page)) listed ON true
            ORDER BY lower(listed.title), listed.id
            """)
        let total = try rows.first?.decode(Int.self, column: "total") ?? 0
        let movies = try rows.filter { $0["id"] != nil }.map(Self.movie)
        return MoviePage(items: movies, total: total, limit: query.limit, offset: query.offset)
    }

    // MARK: - Writing

    public func create(_ input: MovieInput) async throws -> Movie {
        let movie = try input.validated()
        return try await postgres.withTransaction { connection in
            try await Self.requireGenres(movie.genreIDs, on: connection)
            let id = try await connection.query("""
                INSERT INTO movies (title, description, duration_minutes, age_rating, release_year)
                VALUES (\(movie.title), \(movie.description), \(movie.durationMinutes), \(movie.ageRating), \(movie.releaseYear))
                RETURNING id
                """).first!.decode(Int.self, column: "id")
            try await Self.setGenres(movie.genreIDs, of: id, on: connection)
            return try await Self.movie(id: id, on: connection.query)
        }
    }

    /// Replaces every field and the genres; the poster stays.
    public func replace(id: Int, with input: MovieInput) async throws -> Movie {
        let movie = try input.validated()
        return try await postgres.withTransaction { connection in
            let updated = try await connection.query("""
                UPDATE movies SET title = \(movie.title), description = \(movie.description),
                    duration_minutes = \(movie.durationMinutes), age_rating = \(movie.ageRating),
                    release_year = \(movie.releaseYear), updated_at = now()
                WHERE id = \(id) AND archived_at IS NULL
                """)
            guard updated.affectedRows == 1 else { throw BoxOfficeError.notFound("Movie \(id)") }
            try await Self.requireGenres(movie.genreIDs, on: connection)
            try await connection.query("DELETE FROM movie_genres WHERE movie_id = \(id)")
            try await Self.setGenres(movie.genreIDs, of: id, on: connection)
            return try await Self.movie(id: id, on: connection.query)
        }
    }

    /// What deleting a movie did.
    public enum Removal: Sendable, Equatable {
        /// The row is gone, and its poster file.
        case deleted
        /// Showtimes with (past or failed) bookings keep the row, so it is hidden instead.
        case archived
    }

    /// Deletes a movie, unless an upcoming showtime of it has live bookings (409 naming those
    /// showtimes). Its showtimes without any booking go with it; if showtimes with bookings
    /// remain (their bookings point at them), the movie is archived instead of deleted.
    @discardableResult
    public func delete(id: Int) async throws -> Removal {
        let outcome: (removal: Removal, posterFile: String?, cancelled: [(showtimeID: Int, outboxID: Int)])
        do {
            outcome = try await postgres.withTransaction { connection in
                // Locks the movie and its showtimes: a checkout racing with this waits, then
                // sees the outcome, instead of booking a showtime that is being deleted.
                let found = try await connection.query(
                    "SELECT poster_file FROM movies WHERE id = \(id) AND archived_at IS NULL FOR UPDATE")
                guard let movieRow = found.first else { throw BoxOfficeError.notFound("Movie \(id)") }
                try await connection.query("SELECT id FROM showtimes WHERE movie_id = \(id) FOR UPDATE")

                let blocking = try await connection.query("""
                    SELECT s.id, s.starts_at FROM showtimes s
                    WHERE s.movie_id = \(id) AND s.status = 'scheduled' AND s.starts_at > now()
                      AND EXISTS (SELECT 1 FROM bookings b WHERE b.showtime_id = s.id AND b.status IN ('pending', 'confirmed'))
                    ORDER BY s.starts_at, s.id
                    """)
                if !blocking.isEmpty {
                    let showtimes = try blocking.map { (id: try $0.decode(Int.self, column: "id"), startsAt: try $0.decode(Date.self, column: "starts_at")) }
                    let starts = showtimes.map { $0.startsAt.formatted(.iso8601) }
                    throw BoxOfficeError(
                        .conflict,
                        code: "movie_has_bookings",
                        message: "Movie \(id) has upcoming showtimes with bookings: "
                            + zip(showtimes, starts).map { "\($0.id) at \($1)" }.joined(separator: ", ")
                            + ". Cancel those showtimes first.",
                        details: ["showtime_ids": .ints(showtimes.map(\.id)), "showtime_starts": .strings(starts)]
                    )
                }

                try await connection.query("""
                    DELETE FROM showtimes s
                    WHERE s.movie_id = \(id) AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.showtime_id = s.id)
                    """)
                let remaining = try await connection.query("SELECT count(*) AS n FROM showtimes WHERE movie_id = \(id)")
                    .first!.decode(Int.self, column: "n")
                if remaining > 0 {
                    // What remains of the future has only dead bookings (failed, expired,
                    // cancelled): nobody may buy tickets for an archived movie any more.
                    // Redis learns of each through the availability outbox (its sweep closes them).
                    let cancelled = try await connection.query("""
                        WITH cancelled AS (
                            UPDATE showtimes SET status = 'cancelled', cancelled_at = now(), updated_at = now()
                            WHERE movie_id = \(id) AND status = 'scheduled' AND starts_at > now()
                            RETURNING id
                        )
                        INSERT INTO availability_outbox (showtime_id) SELECT id FROM cancelled RETURNING showtime_id, id
                        """).map { (showtimeID: try $0.decode(Int.self, column: "showtime_id"), outboxID: try $0.decode(Int.self, column: "id")) }
                    try await connection.query("UPDATE movies SET archived_at = now(), updated_at = now() WHERE id = \(id)")
                    return (.archived, nil, cancelled)
                }
                try await connection.query("DELETE FROM movies WHERE id = \(id)")
                return (.deleted, try movieRow.decode(String?.self, column: "poster_file"), [])
            }
        } catch let error as PostgresError where error.code == .foreignKeyViolation {
            // Something else still points at the movie or one of its showtimes.
            throw BoxOfficeError(.conflict, code: "movie_in_use", message: "Movie \(id) is still referenced (\(error.table ?? "another table")); try again.")
        }
        // Only after the commit: a rolled-back delete must keep its poster.
        if let file = outcome.posterFile { await posters.removeFile(named: file) }
        // Their holds must stop at once, as for a showtime cancelled by itself.
        for cancelled in outcome.cancelled {
            await holds?.applyCancelled(showtimeID: cancelled.showtimeID, outboxID: cancelled.outboxID)
        }
        return outcome.removal
    }

    /// 422 naming the genre ids that do not exist.
    static func requireGenres(_ ids: [Int], on connection: PostgresConnection) async throws {
        guard !ids.isEmpty else { return }
        let found = try await connection.query("SELECT id FROM genres WHERE id = ANY(\(ids))")
        let unknown = Set(ids).subtracting(try found.map { try $0.decode(Int.self, column: "id") }).sorted()
        guard unknown.isEmpty else {
            var error = BoxOfficeError.validation(
                field: "genre_ids", "unknown genre ids: " + unknown.map(String.init).joined(separator: ", "))
            error.details = ["unknown_genre_ids": .ints(unknown)]
            throw error
        }
    }

    static func setGenres(_ ids: [Int], of movieID: Int, on connection: PostgresConnection) async throws {
        guard !ids.isEmpty else { return }
        // A genre deleted since requireGenres fails the foreign key; the caller's transaction rolls back.
        try await connection.query("""
            INSERT INTO movie_genres (movie_id, genre_id) SELECT \(movieID), unnest(\(ids)::bigint[])
            """)
    }
}
