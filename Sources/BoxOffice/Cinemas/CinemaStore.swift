public import Foundation
public import PostgresClient

/// A cinema of the chain: its halls, its city, and the time zone that decides its days.
public struct Cinema: Sendable, Codable, Equatable {
    public var id: Int
    public var name: String
    public var city: String
    public var address: String
    public var timeZone: String
    public var currency: String

    enum CodingKeys: String, CodingKey {
        case id, name, city, address, currency
        case timeZone = "time_zone"
    }
}

/// What an admin sends to open a cinema, or to change one (absent fields stay).
public struct CinemaInput: Sendable, Codable {
    public var name: String?
    public var city: String?
    public var address: String?
    public var timeZone: String?
    public var currency: String?

    enum CodingKeys: String, CodingKey {
        case name, city, address, currency
        case timeZone = "time_zone"
    }
}

public struct City: Sendable, Codable, Equatable {
    public var name: String
    public var cinemas: Int
}

public struct CinemaStore: Sendable {
    let postgres: PostgresPool

    public init(postgres: PostgresPool) {
        self.postgres = postgres
    }

    /// The default cinema follows the single-cinema settings until an admin edits it.
    public func adoptSettings(timeZone: TimeZone) async throws {
        try await postgres.query("""
            UPDATE cinemas SET time_zone = \(timeZone.identifier) WHERE follows_settings AND time_zone <> \(timeZone.identifier)
            """)
    }

    public func cities() async throws -> [City] {
        try await postgres.query("SELECT city, count(*) AS n FROM cinemas GROUP BY city ORDER BY city").map {
            City(name: try $0.decode(String.self, column: "city"), cinemas: try $0.decode(Int.self, column: "n"))
        }
    }

    public func list(city: String?) async throws -> [Cinema] {
        try await postgres.query("""
            \(unescaped: Self.select) WHERE (\(city)::text IS NULL OR lower(city) = lower(\(city))) ORDER BY city, name, id
            """).map(Self.cinema)
    }

    public func get(_ id: Int) async throws -> Cinema {
        guard let row = try await postgres.query("\(unescaped: Self.select) WHERE id = \(id)").first else {
            throw BoxOfficeError.notFound("Cinema \(id)")
        }
        return try Self.cinema(row)
    }

    public func create(_ input: CinemaInput) async throws -> Cinema {
        var validator = Validator()
        Self.check(input, creating: true, &validator)
        try validator.validate()
        do {
            return try Self.cinema(try await postgres.query("""
                INSERT INTO cinemas (name, city, address, time_zone, currency)
                VALUES (\(Self.trimmed(input.name)), \(Self.trimmed(input.city)), \(input.address ?? ""), \(input.timeZone!), \(input.currency ?? "EUR"))
                RETURNING id, name, city, address, time_zone, currency
                """).first!)
        } catch let error as PostgresError where error.sqlState == "23505" {
            throw Self.nameTaken(input.name ?? "")
        }
    }

    public func update(_ id: Int, _ input: CinemaInput) async throws -> Cinema {
        var validator = Validator()
        Self.check(input, creating: false, &validator)
        try validator.validate()
        do {
            guard let row = try await postgres.query("""
                UPDATE cinemas SET name = COALESCE(\(input.name.map(Self.trimmed)), name), city = COALESCE(\(input.city.map(Self.trimmed)), city),
                  address = COALESCE(\(input.address), address), time_zone = COALESCE(\(input.timeZone), time_zone),
                  currency = COALESCE(\(input.currency), currency), follows_settings = false, updated_at = now()
                WHERE id = \(id) RETURNING id, name, city, address, time_zone, currency
                """).first else { throw BoxOfficeError.notFound("Cinema \(id)") }
            return try Self.cinema(row)
        } catch let error as PostgresError where error.sqlState == "23505" {
            throw Self.nameTaken(input.name ?? "")
        }
    }

    static func check(_ input: CinemaInput, creating: Bool, _ validator: inout Validator) {
        func text(_ value: String?, _ field: String, max: Int) {
            guard let value else {
                if creating { validator.check(false, field, "is required.") }
                return
            }
            let trimmed = trimmed(value)
            validator.check(!trimmed.isEmpty && trimmed.unicodeScalars.count <= max && !trimmed.contains("\0"), field,
                            "must be 1 to \(max) characters.")
        }
        text(input.name, "name", max: 200)
        text(input.city, "city", max: 100)
        if let address = input.address { validator.check(address.unicodeScalars.count <= 500 && !address.contains("\0"), "address", "must be at most 500 characters.") }
        if let zone = input.timeZone {
            validator.check((TimeZone(identifier: zone) != nil && zone.contains("/")) || zone == "UTC", "time_zone", "must be an IANA time zone, e.g. Europe/Berlin.")
        } else if creating {
            validator.check(false, "time_zone", "is required.")
        }
        if let currency = input.currency {
            validator.check(currency.count == 3 && currency.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) }, "currency",
                            "must be 3 uppercase letters (ISO 4217), e.g. EUR.")
        }
    }

    static func trimmed(_ text: String?) -> String {
        (text ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func nameTaken(_ name: String) -> BoxOfficeError {
        BoxOfficeError(.conflict, code: "cinema_name_taken", message: "There is already a cinema named '\(trimmed(name))'.")
    }

    static let select = "SELECT id, name, city, address, time_zone, currency FROM cinemas"

    static func cinema(_ row: PostgresRow) throws -> Cinema {
        Cinema(
            id: try row.decode(Int.self, column: "id"), name: try row.decode(String.self, column: "name"),
            city: try row.decode(String.self, column: "city"), address: try row.decode(String.self, column: "address"),
            timeZone: try row.decode(String.self, column: "time_zone"), currency: try row.decode(String.self, column: "currency")
        )
    }
}
