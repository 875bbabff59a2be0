public import Foundation

/// A movie of the catalogue, as everyone may read it.
public struct Movie: Sendable, Equatable {
    public var id: Int
    public var title: String
    public var description: String
    public var durationMinutes: Int
    public var ageRating: String?
    public var releaseYear: Int?
    /// By name.
    public var genres: [Genre]
    /// The SHA-256 (hex) of the poster's bytes; nil without a poster.
    public var posterETag: String?
}

/// An upcoming showtime of a movie, as its page lists it.
public struct MovieShowtime: Sendable, Equatable {
    public struct Hall: Sendable, Equatable {
        public var id: Int
        public var name: String
    }

    public var id: Int
    public var startsAt: Date
    public var endsAt: Date
    public var hall: Hall
}

/// What an admin sends to create or replace a movie. Every field is optional here so that
/// one answer can name every missing or bad field at once.
public struct MovieInput: Sendable, Equatable, Decodable {
    public var title: String?
    public var description: String?
    public var durationMinutes: Int?
    public var ageRating: String?
    public var releaseYear: Int?
    public var genreIDs: [Int]?

    enum CodingKeys: String, CodingKey {
        case title, description
        case durationMinutes = "duration_minutes"
        case ageRating = "age_rating"
        case releaseYear = "release_year"
        case genreIDs = "genre_ids"
    }

    public init(
        title: String?, description: String? = nil, durationMinutes: Int?, ageRating: String? = nil,
        releaseYear: Int? = nil, genreIDs: [Int]?
    ) {
        self.title = title
        self.description = description
        self.durationMinutes = durationMinutes
        self.ageRating = ageRating
        self.releaseYear = releaseYear
        self.genreIDs = genreIDs
    }

    /// A movie that passed validation: the values the store writes.
    public struct Valid: Sendable, Equatable {
        public var title: String
        public var description: String
        public var durationMinutes: Int
        public var ageRating: String?
        public var releaseYear: Int?
        /// Without duplicates, ascending.
        public var genreIDs: [Int]
    }

    /// Checks every field; the limits mirror the table's constraints so that the database
    /// never has to refuse a value.
    public func validated() throws(BoxOfficeError) -> Valid {
        let title = self.title?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let description = self.description?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let ageRating = self.ageRating?.trimmingCharacters(in: .whitespacesAndNewlines)
        var validator = Validator()
        validator.check(self.title != nil, "title", "is required")
        if self.title != nil {
            validator.check(!title.isEmpty, "title", "must not be empty")
            validator.check(self.title!.unicodeScalars.count <= 300, "title", "must be at most 300 characters")
        }
        validator.check(!title.unicodeScalars.contains("\0"), "title", "must not contain NUL characters")
        validator.check((self.description ?? "").unicodeScalars.count <= 10_000, "description", "must be at most 10000 characters")
        validator.check(!description.unicodeScalars.contains("\0"), "description", "must not contain NUL characters")
        if let durationMinutes {
            validator.check((1...1000).contains(durationMinutes), "duration_minutes", "must be between 1 and 1000")
        } else {
            validator.check(false, "duration_minutes", "is required")
        }
        if let ageRating {
            validator.check(!ageRating.isEmpty && self.ageRating!.unicodeScalars.count <= 20, "age_rating", "must be 1 to 20 characters, or null")
            validator.check(!ageRating.unicodeScalars.contains("\0"), "age_rating", "must not contain NUL characters")
        }
        if let releaseYear {
            validator.check((1880...2200).contains(releaseYear), "release_year", "must be between 1880 and 2200")
        }
        validator.check(genreIDs != nil, "genre_ids", "is required (an empty list is fine)")
        validator.check(genreIDs.map { $0.count <= 50 } ?? true, "genre_ids", "must name at most 50 genres")
        try validator.validate()
        return Valid(
            title: title,
            description: description,
            durationMinutes: durationMinutes!,
            ageRating: ageRating,
            releaseYear: releaseYear,
            genreIDs: Array(Set(genreIDs!)).sorted()
        )
    }
}

/// Which movies a public list shows, and which page of them.
public struct MovieListQuery: Sendable, Equatable {
    public var genreID: Int?
    /// Matched case-insensitively anywhere in the title, taken literally.
    public var titleContains: String?
    /// Only movies with a scheduled showtime starting on this day.
    public var showingOn: ShowingDay?
    public var limit: Int
    public var offset: Int

    public static let defaultLimit = 50
    public static let maximumLimit = 200

    public init(genreID: Int? = nil, titleContains: String? = nil, showingOn: ShowingDay? = nil, limit: Int = defaultLimit, offset: Int = 0) {
        self.genreID = genreID
        self.titleContains = titleContains
        self.showingOn = showingOn
        self.limit = limit
        self.offset = offset
    }

    /// A `LIKE` pattern matching `text` anywhere, with `%`, `_` and the escape character
    /// itself escaped so that they match only themselves.
    public static func likePattern(containing text: String) -> String {
        var pattern = "%"
        for character in text {
            if character == "\\" || character == "%" || character == "_" { pattern.append("\\") }
            pattern.append(character)
        }
        pattern.append("%")
        return pattern
    }
}

/// One page of movies, and how many match in all.
public struct MoviePage: Sendable, Equatable {
    public var items: [Movie]
    public var total: Int
    public var limit: Int
    public var offset: Int
}
