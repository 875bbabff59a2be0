import Foundation
public import PostgresClient

/// A genre a movie may belong to.
public struct Genre: Sendable, Equatable, Codable {
    public var id: Int
    public var name: String

    public init(id: Int, name: String) {
        self.id = id
        self.name = name
    }
}

/// Genres in PostgreSQL. Names are unique regardless of case.
public struct GenreStore: Sendable {
    let postgres: PostgresPool

    public init(postgres: PostgresPool) {
        self.postgres = postgres
    }

    /// Every genre, by name.
    public func all() async throws -> [Genre] {
        try await postgres.query("SELECT id, name FROM genres ORDER BY lower(name), id").map(Self.genre)
    }

    public func create(name: String) async throws -> Genre {
        let name = try Self.validName(name)
        return try await Self.refusingDuplicates(name) {
            try await postgres.query("INSERT INTO genres (name) VALUES (\(name)) RETURNING id, name").first.map(Self.genre)!
        }
    }

    public func rename(id: Int, to name: String) async throws -> Genre {
        let name = try Self.validName(name)
        let updated = try await Self.refusingDuplicates(name) {
            try await postgres.query("UPDATE genres SET name = \(name) WHERE id = \(id) RETURNING id, name").first.map(Self.genre)
        }
        guard let updated else { throw BoxOfficeError.notFound("Genre \(id)") }
        return updated
    }

    /// Deletes the genre; movies simply lose it.
    public func delete(id: Int) async throws {
        let deleted = try await postgres.query("DELETE FROM genres WHERE id = \(id)")
        guard deleted.affectedRows == 1 else { throw BoxOfficeError.notFound("Genre \(id)") }
    }

    static func validName(_ name: String?) throws(BoxOfficeError) -> String {
        // Lengths in Unicode scalars as sent, as the document's maxLength counts them.
        let sent = name ?? ""
        let name = sent.trimmingCharacters(in: .whitespacesAndNewlines)
        var validator = Validator()
        validator.check(!name.isEmpty, "name", "is required")
        validator.check(sent.unicodeScalars.count <= 100, "name", "must be at most 100 characters")
        validator.check(!name.unicodeScalars.contains("\0"), "name", "must not contain NUL characters")
        try validator.validate()
        return name
    }

    private static func genre(_ row: PostgresRow) throws -> Genre {
        Genre(id: try row.decode(Int.self, column: "id"), name: try row.decode(String.self, column: "name"))
    }

    private static func refusingDuplicates<R>(_ name: String, _ body: () async throws -> R) async throws -> R {
        do {
            return try await body()
        } catch let error as PostgresError where error.code == .uniqueViolation {
            throw BoxOfficeError(.conflict, code: "genre_exists", message: "A genre named '\(name)' already exists.")
        }
    }
}
