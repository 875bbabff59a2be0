@testable import BoxOffice
import Foundation
import Testing

/// When a showtime's seats may be held.
@Suite struct SaleWindowTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        /// Seconds from "now"; nil: no opening set.
        var opensIn: TimeInterval?
        var startsIn: TimeInterval
        var expected: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "without an opening a showtime is on sale until it starts", opensIn: nil, startsIn: 3600, expected: "open"),
        Case(name: "before its opening it is not on sale", opensIn: 60, startsIn: 3600, expected: "not open"),
        Case(name: "from the instant of its opening it is on sale", opensIn: 0, startsIn: 3600, expected: "open"),
        Case(name: "after its opening it is on sale", opensIn: -60, startsIn: 3600, expected: "open"),
        Case(name: "once it started nothing is on sale", opensIn: -7200, startsIn: 0, expected: "started"),
        Case(name: "a showtime that started says so even without an opening", opensIn: nil, startsIn: -1, expected: "started"),
    ]

    @Test(arguments: cases)
    func state(_ example: Case) {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let window = SaleWindow(opensAt: example.opensIn.map { now.addingTimeInterval($0) }, startsAt: now.addingTimeInterval(example.startsIn))
        let described = switch window.state(at: now) {
        case .open: "open"
        case .notOpenYet: "not open"
        case .started: "started"
        }
        #expect(described == example.expected)
    }
}
