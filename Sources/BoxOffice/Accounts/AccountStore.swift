public import Foundation
public import PostgresClient

/// The `users` table.
public struct AccountStore: Sendable {
    let postgres: PostgresPool

    public init(postgres: PostgresPool) {
        self.postgres = postgres
    }

    static let columns = "id, email, name, role, cinema_id, created_at"

    static func account(from row: PostgresRow) throws -> Account {
        let roleText = try row.decode(String.self, column: "role")
        guard let role = Role(rawValue: roleText) else {
            throw PostgresError(code: .decoding, message: "unknown role '\(roleText)' in users")
        }
        return Account(
            id: try row.decode(UUID.self, column: "id"),
            email: try row.decode(String.self, column: "email"),
            name: try row.decode(String.self, column: "name"),
            role: role,
            cinemaID: try row.decode(Int?.self, column: "cinema_id"),
            createdAt: try row.decode(Date.self, column: "created_at")
        )
    }

    /// Inserts a new account; 409 `email_taken` when the email is in use, also when two
    /// signups race (the unique index decides).
    public func create(email: String, name: String, passwordHash: String, role: Role = .user) async throws -> Account {
        do {
            let rows = try await postgres.query("""
                INSERT INTO users (email, name, password_hash, role)
                VALUES (\(email), \(name), \(passwordHash), \(role.rawValue))
                RETURNING \(unescaped: Self.columns)
                """)
            return try Self.account(from: rows[0])
        } catch let error as PostgresError where error.code == .uniqueViolation {
            throw BoxOfficeError(.conflict, code: "email_taken", message: "An account with this email already exists.")
        }
    }

    public func find(id: UUID) async throws -> Account? {
        try await postgres.query("SELECT \(unescaped: Self.columns) FROM users WHERE id = \(id)")
            .first.map(Self.account(from:))
    }

    /// The account and its password hash, for signing in.
    public func credentials(email: String) async throws -> (account: Account, passwordHash: String)? {
        guard let row = try await postgres.query("""
            SELECT \(unescaped: Self.columns), password_hash FROM users WHERE email = \(email)
            """).first
        else { return nil }
        return (try Self.account(from: row), try row.decode(String.self, column: "password_hash"))
    }

    /// A page of accounts, oldest first; `search` matches email or name, case-insensitively.
    public func list(search: String?, role: Role?, limit: Int, offset: Int) async throws -> (items: [Account], total: Int) {
        // The search is taken literally: LIKE's wildcards and escape character are escaped.
        let pattern = search.map { text in
            "%" + text.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_") + "%"
        }
        let roleText = role?.rawValue
        let total = try await postgres.query("""
            SELECT count(*) AS total FROM users
            WHERE (\(pattern)::text IS NULL OR email ILIKE \(pattern)::text ESCAPE '\\' OR name ILIKE \(pattern)::text ESCAPE '\\')
              AND (\(roleText)::text IS NULL OR role = \(roleText)::text)
            """).first!.decode(Int.self, column: "total")
        let rows = try await postgres.query("""
            SELECT \(unescaped: Self.columns) FROM users
            WHERE (\(pattern)::text IS NULL OR email ILIKE \(pattern)::text ESCAPE '\\' OR name ILIKE \(pattern)::text ESCAPE '\\')
              AND (\(roleText)::text IS NULL OR role = \(roleText)::text)
            ORDER BY created_at, id LIMIT \(limit) OFFSET \(offset)
            """)
        return (try rows.map(Self.account(from:)), total)
    }

    /// Sets a role, and for staff and managers their cinema (which must exist; 422 `cinema_id`
    /// otherwise, also when given for another role). Demoting the last admin is refused with 409
    /// `last_admin`; every admin row is locked first, so two admins demoting each other at once
    /// cannot both succeed.
    public func setRole(of id: UUID, to role: Role, cinema cinemaID: Int? = nil) async throws -> Account {
        var validator = Validator()
        if role.belongsToCinema {
            validator.check(cinemaID != nil, "cinema_id", "is required for \(role.rawValue): the cinema they work at.")
        } else {
            validator.check(cinemaID == nil, "cinema_id", "is only for staff and managers; \(role.rawValue)s belong to no cinema.")
        }
        try validator.validate()
        return try await postgres.withTransaction { connection in
            let admins = try await connection.query("""
                SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE
                """).map { try $0.decode(UUID.self, column: "id") }
            guard let current = try await connection.query("""
                SELECT \(unescaped: Self.columns) FROM users WHERE id = \(id) FOR UPDATE
                """).first.map(Self.account(from:))
            else { throw BoxOfficeError.notFound("The user") }
            if current.role == .admin, role != .admin, admins == [id] {
                throw BoxOfficeError(.conflict, code: "last_admin", message: "The last admin cannot be demoted; make another admin first.")
            }
            if current.role == role, current.cinemaID == cinemaID { return current }
            do {
                let rows = try await connection.query("""
                    UPDATE users SET role = \(role.rawValue), cinema_id = \(cinemaID), updated_at = now() WHERE id = \(id)
                    RETURNING \(unescaped: Self.columns)
                    """)
                return try Self.account(from: rows[0])
            } catch let error as PostgresError where error.code == .foreignKeyViolation {
                throw BoxOfficeError.validation(field: "cinema_id", "there is no cinema \(cinemaID ?? 0).")
            }
        }
    }

    public enum AdminOutcome: Sendable, Equatable {
        case created(Account)
        case promoted(Account)
        case alreadyAdmin(Account)
    }

    /// Makes sure an admin with this email exists: creates it, or promotes the existing
    /// account (whose password stays as it is). `passwordHash` is only asked for when needed.
    public func ensureAdmin(
        email: String, name: String, passwordHash: () async throws -> String
    ) async throws -> AdminOutcome {
        if let existing = try await promoteToAdmin(email: email) { return existing }
        let hash = try await passwordHash()
        let inserted = try await postgres.query("""
            INSERT INTO users (email, name, password_hash, role) VALUES (\(email), \(name), \(hash), 'admin')
            ON CONFLICT (email) DO NOTHING
            RETURNING \(unescaped: Self.columns)
            """)
        if let row = inserted.first { return .created(try Self.account(from: row)) }
        // Someone made the account in between (another instance starting): promote that one.
        guard let existing = try await promoteToAdmin(email: email) else {
            throw PostgresError(code: .server, message: "the account for the admin email vanished while it was being made")
        }
        return existing
    }

    private func promoteToAdmin(email: String) async throws -> AdminOutcome? {
        let promoted = try await postgres.query("""
            UPDATE users SET role = 'admin', cinema_id = NULL, updated_at = now() WHERE email = \(email) AND role <> 'admin'
            RETURNING \(unescaped: Self.columns)
            """)
        if let row = promoted.first { return .promoted(try Self.account(from: row)) }
        let existing = try await postgres.query("SELECT \(unescaped: Self.columns) FROM users WHERE email = \(email)")
        if let row = existing.first { return .alreadyAdmin(try Self.account(from: row)) }
        return nil
    }
}
