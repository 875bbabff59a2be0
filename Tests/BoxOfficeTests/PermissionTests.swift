import BoxOffice
import Foundation
import Testing

/// What each role may do, and where: the table the staff routes follow.
@Suite struct PermissionTests {
    static let cinema = 7
    static let elsewhere = 8

    /// (role, permission, may in own cinema, may in another cinema)
    static let table: [(Role, Permission, Bool, Bool)] = [
        (.user, .validateTickets, false, false),
        (.user, .readReports, false, false),
        (.user, .manageBookings, false, false),
        (.staff, .validateTickets, true, false),
        (.staff, .readReports, true, false),
        (.staff, .manageBookings, false, false),
        (.staff, .manageShowtimes, false, false),
        (.staff, .manageHalls, false, false),
        (.staff, .manageCatalogue, false, false),
        (.manager, .validateTickets, true, false),
        (.manager, .readReports, true, false),
        (.manager, .manageBookings, true, false),
        (.manager, .manageShowtimes, true, false),
        (.manager, .manageHalls, true, false),
        (.manager, .manageCatalogue, false, false),
        (.manager, .manageCinemas, false, false),
        (.manager, .manageAccounts, false, false),
        (.manager, .manageWebhooks, false, false),
        (.admin, .validateTickets, true, true),
        (.admin, .manageHalls, true, true),
        (.admin, .manageCatalogue, true, true),
        (.admin, .manageAccounts, true, true),
        (.admin, .manageWebhooks, true, true),
    ]

    @Test(arguments: table.indices)
    func aRoleMayWhatTheTableSaysWhereItSays(_ index: Int) {
        let (role, permission, own, other) = Self.table[index]
        let person = Identity(userID: UUID(), role: role, cinemaID: Self.cinema)
        #expect(person.may(permission, inCinema: Self.cinema) == own, "\(role) \(permission) in their cinema")
        #expect(person.may(permission, inCinema: Self.elsewhere) == other, "\(role) \(permission) elsewhere")
    }

    @Test func adminsAndCustomersBelongToNoCinemaAndCinemaRolesReachOnlyTheirs() {
        #expect(Identity(userID: UUID(), role: .admin, cinemaID: 3).cinemaID == nil)
        #expect(Identity(userID: UUID(), role: .user, cinemaID: 3).cinemaID == nil)
        #expect(Identity(userID: UUID(), role: .admin).reach(for: .readReports) == .chain)
        #expect(Identity(userID: UUID(), role: .staff, cinemaID: 3).reach(for: .readReports) == .cinema(3))
        // A cinema role without a cinema (the database does not allow one) may do nothing.
        #expect(Identity(userID: UUID(), role: .manager).reach(for: .manageHalls) == nil)
    }

    @Test func aListIsLimitedToOnesOwnCinemaAndAskingForAnotherIsRefused() throws {
        #expect(try Reach.chain.limit(nil) == nil)
        #expect(try Reach.chain.limit(5) == 5)
        #expect(try Reach.cinema(3).limit(nil) == 3)
        #expect(try Reach.cinema(3).limit(3) == 3)
        #expect(throws: BoxOfficeError.otherCinema) { try Reach.cinema(3).limit(4) }
    }

    @Test func aCheckOnlyLooksTheCinemaUpForACinemasStaff() async throws {
        try await Reach.chain.check { Issue.record("looked up for an admin"); return 1 }
        try await Reach.cinema(3).check { 3 }
        try await Reach.cinema(3).check { nil }
        await #expect(throws: BoxOfficeError.otherCinema) { try await Reach.cinema(3).check { 4 } }
    }
}
