/// What the staff routes let someone do. Each role has some of these, chain-wide or in its
/// own cinema only (`Identity.reach(for:)`).
public enum Permission: String, Sendable, CaseIterable {
    case validateTickets
    case readReports
    case manageBookings
    case manageShowtimes
    case manageHalls
    /// Genres and movies: one catalogue for the chain.
    case manageCatalogue
    case manageCinemas
    case manageAccounts
    case manageWebhooks
}

/// Where a permission holds.
public enum Reach: Sendable, Equatable {
    case chain
    case cinema(Int)

    public func includes(cinema id: Int) -> Bool {
        switch self {
        case .chain: true
        case .cinema(let own): own == id
        }
    }

    /// The one cinema a query must be limited to; nil for the whole chain.
    public var cinemaID: Int? {
        switch self {
        case .chain: nil
        case .cinema(let id): id
        }
    }
}

extension Permission {
    /// What a role may do in its own cinema (admins may do everything everywhere).
    static func granted(to role: Role) -> Set<Permission> {
        switch role {
        case .user: []
        case .staff: [.validateTickets, .readReports]
        case .manager: [.validateTickets, .readReports, .manageBookings, .manageShowtimes, .manageHalls]
        case .admin: Set(allCases)
        }
    }
}

extension Identity {
    /// Where this person may use `permission`; nil when not at all. A staff member or manager
    /// without a cinema (which the database does not allow) may do nothing.
    public func reach(for permission: Permission) -> Reach? {
        guard Permission.granted(to: role).contains(permission) else { return nil }
        if role == .admin { return .chain }
        return cinemaID.map(Reach.cinema)
    }

    /// Whether this person may use `permission` on something of cinema `id`.
    public func may(_ permission: Permission, inCinema id: Int) -> Bool {
        reach(for: permission)?.includes(cinema: id) ?? false
    }
}

extension Reach {
    /// 403 `other_cinema` when the cinema that `cinemaOf` looks up lies outside this reach; it is
    /// only asked when the reach is one cinema. nil (an unknown thing) passes: the route's own
    /// 404 follows.
    public func check(_ cinemaOf: () async throws -> Int?) async throws {
        guard case .cinema = self, let id = try await cinemaOf() else { return }
        try check(cinema: id)
    }

    public func check(cinema id: Int) throws(BoxOfficeError) {
        guard includes(cinema: id) else { throw BoxOfficeError.otherCinema }
    }

    /// The cinema a list or report is limited to: the `requested` one (nil: all) for the
    /// chain; one's own for a cinema's staff, who may only ask for theirs.
    public func limit(_ requested: Int?) throws(BoxOfficeError) -> Int? {
        if let requested { try check(cinema: requested) }
        return requested ?? cinemaID
    }
}

extension BoxOfficeError {
    /// Something of another cinema than the one a staff member or manager belongs to.
    public static let otherCinema = BoxOfficeError(
        .forbidden, code: "other_cinema", message: "That belongs to another cinema than yours."
    )
}
