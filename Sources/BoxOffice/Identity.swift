public import Foundation

/// What a signed-in person may do; see `Permission` for where.
public enum Role: String, Sendable, Codable, CaseIterable {
    case user
    /// Door staff of one cinema: validate its tickets, read its reports.
    case staff
    /// Runs one cinema: its halls, showtimes and bookings, and what staff may do there.
    case manager
    /// Chain-wide: everything, including the catalogue, cinemas, accounts and webhooks.
    case admin

    /// Staff and managers belong to a cinema; admins and customers to none.
    public var belongsToCinema: Bool { self == .staff || self == .manager }
}

/// Who makes a request, as proven by their access token.
public struct Identity: Sendable, Equatable {
    public var userID: UUID
    public var role: Role
    /// The cinema a staff member or manager belongs to.
    public var cinemaID: Int?

    public init(userID: UUID, role: Role, cinemaID: Int? = nil) {
        self.userID = userID
        self.role = role
        self.cinemaID = role.belongsToCinema ? cinemaID : nil
    }

    public var isAdmin: Bool { role == .admin }
}

extension UUID {
    /// The one spelling the API uses for ids, in URLs, bodies, tokens and reports: lower case
    /// (`uuidString` is upper case).
    public var canonical: String { uuidString.lowercased() }
}
