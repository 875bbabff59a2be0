@testable import BoxOffice
import Foundation
import Testing

/// Queue passes: who may hold seats while a sale's waiting room is on.
@Suite struct QueuePassTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let user = UUID(uuidString: "6F2B1B9E-8C1D-4E55-9A57-5C1C2E3D4F50")!
    static let pass = QueuePass(showtimeID: 42, userID: user, ticket: "42-0123456789abcdef0123456789abcdef",
                                expiresAt: now.addingTimeInterval(600))

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        /// Turns a good token into the one presented.
        var tamper: @Sendable (String) -> String
        var secret = "the-service-secret"
        var at: TimeInterval = 0
        var expected: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "a pass the service signed is accepted", tamper: { $0 }, expected: "ok"),
        Case(name: "another showtime written in breaks the signature",
             tamper: { $0.replacingOccurrences(of: "v1.42.", with: "v1.43.") }, expected: "forged"),
        Case(name: "another account written in breaks the signature",
             tamper: { $0.replacingOccurrences(of: "6f2b1b9e", with: "6f2b1b9f") }, expected: "forged"),
        Case(name: "a later expiry written in breaks the signature",
             tamper: { $0.replacingOccurrences(of: ".1800000600.", with: ".1900000600.") }, expected: "forged"),
        Case(name: "a pass signed with another secret is refused", tamper: { $0 }, secret: "someone-else's-secret", expected: "forged"),
        Case(name: "an expired pass is refused", tamper: { $0 }, at: 600, expected: "expired"),
        Case(name: "a pass one second before its expiry is accepted", tamper: { $0 }, at: 599, expected: "ok"),
        Case(name: "anything else is malformed", tamper: { _ in "not-a-pass" }, expected: "malformed"),
        Case(name: "a pass without its signature is malformed",
             tamper: { String($0[..<$0.lastIndex(of: ".")!]) }, expected: "malformed"),
    ]

    @Test(arguments: cases)
    func verify(_ example: Case) {
        let token = example.tamper(QueuePass.Signer(secret: "the-service-secret").sign(Self.pass))
        let result = QueuePass.Signer(secret: example.secret).verify(token, now: Self.now.addingTimeInterval(example.at))
        let described = switch result {
        case .success(let pass): pass == Self.pass ? "ok" : "other \(pass)"
        case .failure(.forged): "forged"
        case .failure(.expired): "expired"
        case .failure(.malformed): "malformed"
        }
        #expect(described == example.expected)
    }
}

/// What a waiting person is told about their wait.
@Suite struct QueueEstimateTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var admitted: Int
        var sinceFirstMilliseconds: Int
        var configured: Double
        var ahead: Int
        var paused = false
        var expected: Int?
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "before any admission the configured rate counts", admitted: 0, sinceFirstMilliseconds: 0, configured: 50,
             ahead: 99, expected: 2),
        Case(name: "the first seconds of admissions are too few to judge by", admitted: 10, sinceFirstMilliseconds: 1000,
             configured: 50, ahead: 99, expected: 2),
        Case(name: "admissions slowed by seats coming free slowly count as they are", admitted: 100,
             sinceFirstMilliseconds: 20_000, configured: 50, ahead: 99, expected: 20),
        Case(name: "never faster than the configured rate", admitted: 1000, sinceFirstMilliseconds: 2000, configured: 50,
             ahead: 99, expected: 2),
        Case(name: "the next person in waits a moment, not nothing", admitted: 0, sinceFirstMilliseconds: 0, configured: 50,
             ahead: 0, expected: 1),
        Case(name: "while paused nobody can say", admitted: 100, sinceFirstMilliseconds: 20_000, configured: 50, ahead: 9,
             paused: true, expected: nil),
        Case(name: "with no rate nobody can say", admitted: 0, sinceFirstMilliseconds: 0, configured: 0, ahead: 9, expected: nil),
    ]

    @Test(arguments: cases)
    func waitSeconds(_ example: Case) {
        let rate = QueueEstimate.admissionsPerSecond(
            admitted: example.admitted, sinceFirstAdmission: example.sinceFirstMilliseconds, configured: example.configured
        )
        #expect(QueueEstimate.waitSeconds(ahead: example.ahead, perSecond: rate, paused: example.paused) == example.expected)
    }
}
