public import Foundation

/// What a signed-in person may do.
public enum Role: String, Sendable, Codable, CaseIterable {
    case user
    /// Door staff: validates tickets.
    case staff
    case admin
}

/// Who makes a request, as proven by their access token.
public struct Identity: Sendable, Equatable {
    public var userID: UUID
    public var role: Role

    public init(userID: UUID, role: Role) {
        self.userID = userID
        self.role = role
    }

    public var isAdmin: Bool { role == .admin }
}

extension UUID {
    /// The one spelling the API uses for ids, in URLs, bodies, tokens and reports: lower case
    /// (`uuidString` is upper case).
    public var canonical: String { uuidString.lowercased() }
}
