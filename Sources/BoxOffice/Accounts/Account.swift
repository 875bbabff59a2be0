public import Foundation

/// A person who can sign in, as the API shows them (never with their password hash).
public struct Account: Sendable, Equatable, Codable {
    public var id: UUID
    public var email: String
    public var name: String
    public var role: Role
    /// The cinema of a staff member or manager.
    public var cinemaID: Int?
    public var createdAt: Date

    public init(id: UUID, email: String, name: String, role: Role, cinemaID: Int? = nil, createdAt: Date) {
        self.id = id
        self.email = email
        self.name = name
        self.role = role
        self.cinemaID = cinemaID
        self.createdAt = createdAt
    }

    /// What the access token proves about this account.
    public var identity: Identity { Identity(userID: id, role: role, cinemaID: cinemaID) }

    enum CodingKeys: String, CodingKey {
        case id, email, name, role
        case cinemaID = "cinema_id"
        case createdAt = "created_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id.canonical, forKey: .id)
        try container.encode(email, forKey: .email)
        try container.encode(name, forKey: .name)
        try container.encode(role, forKey: .role)
        try container.encodeIfPresent(cinemaID, forKey: .cinemaID)
        try container.encode(createdAt, forKey: .createdAt)
    }
}

/// The rules for what people type when they sign up or sign in.
public enum AccountRules {
    /// In Unicode scalars, as JSON Schema's `maxLength` counts. Past bcrypt's 72 bytes a
    /// password is pre-hashed (`PasswordHasher`), so the bound only keeps requests small.
    public static let maximumPasswordLength = 256
    public static let maximumNameLength = 200
    public static let maximumEmailLength = 254

    /// Trimmed and lowercased, so that one address is one account however it is typed.
    public static func normalizedEmail(_ email: String) -> String {
        email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    /// A sanity check, not RFC 5322: one `@`, something before it, a dotted domain after it,
    /// no spaces or control characters.
    public static func isPlausibleEmail(_ email: String) -> Bool {
        guard email.utf8.count <= maximumEmailLength,
              !email.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F })
        else { return false }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty }
    }

    /// Checks email, password and name of a new account; the email must already be normalized.
    public static func checkNewAccount(
        email: String, password: String, name: String, minimumPasswordLength: Int, into validator: inout Validator
    ) {
        validator.check(isPlausibleEmail(email), "email", "must be an email address such as name@example.com")
        checkPassword(password, minimumLength: minimumPasswordLength, into: &validator)
        checkName(name, into: &validator)
    }

    public static func checkPassword(_ password: String, minimumLength: Int, into validator: inout Validator) {
        validator.check(password.count >= minimumLength, "password", "must be at least \(minimumLength) characters long")
        validator.check(password.unicodeScalars.count <= maximumPasswordLength, "password", "must be at most \(maximumPasswordLength) characters long")
        // bcrypt reads a C string: everything after a NUL would be ignored.
        validator.check(!password.unicodeScalars.contains("\0"), "password", "must not contain NUL characters")
    }

    /// The name must already be trimmed. Counted in Unicode scalars, as PostgreSQL's length() does.
    public static func checkName(_ name: String, into validator: inout Validator) {
        let length = name.unicodeScalars.count
        validator.check(length >= 1 && length <= maximumNameLength, "name", "must be 1 to \(maximumNameLength) characters long")
        validator.check(!name.unicodeScalars.contains("\0"), "name", "must not contain NUL characters")
    }
}
