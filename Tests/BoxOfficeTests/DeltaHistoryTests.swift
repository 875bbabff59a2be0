@testable import BoxOffice
import Testing

/// What a live client that reconnects with its last version gets.
@Suite struct DeltaHistoryTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var capacity = 4
        /// In order: "read 5" (a reader read version 5 after the subscription was made) or
        /// "+6 +7" (a batch of deltas arrived).
        var steps: [String]
        var since: Int?
        var current: Int
        /// "up to date", "snapshot", or the versions of the deltas sent ("" for none yet).
        var expected: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "a first connection gets a snapshot", steps: ["read 5"], since: nil, current: 5, expected: "snapshot"),
        Case(name: "a client at the current version gets nothing again", steps: [], since: 5, current: 5, expected: "up to date"),
        Case(name: "a client that missed deltas gets just those", steps: ["read 5", "+6", "+7"], since: 5, current: 7, expected: "6 7"),
        Case(name: "a batch counts delta by delta", steps: ["read 5", "+6 +7 +8"], since: 6, current: 8, expected: "7 8"),
        Case(name: "deltas still on their way are left to the feed", steps: ["read 5"], since: 5, current: 7, expected: ""),
        Case(name: "a subscription known only from its first delta covers what followed it",
             steps: ["+9", "+10"], since: 8, current: 10, expected: "9 10"),
        Case(name: "a version from before the subscription gets a snapshot", steps: ["read 5", "+6"], since: 4, current: 6,
             expected: "snapshot"),
        Case(name: "without a reader or a delta nothing is known", steps: [], since: 4, current: 6, expected: "snapshot"),
        Case(name: "a version newer than Redis' (Redis lost its data) gets a snapshot", steps: ["read 5", "+6"], since: 9,
             current: 6, expected: "snapshot"),
        Case(name: "a version without a delta (the sold cache was reloaded) forces a snapshot",
             steps: ["read 5", "+6", "+8"], since: 5, current: 8, expected: "snapshot"),
        Case(name: "after such a gap, a client past it resumes", steps: ["read 5", "+6", "+8", "+9"], since: 8, current: 9,
             expected: "9"),
        Case(name: "the oldest deltas go past the capacity, and clients behind them get a snapshot", capacity: 2,
             steps: ["read 5", "+6 +7 +8"], since: 5, current: 8, expected: "snapshot"),
        Case(name: "clients within the capacity still resume", capacity: 2, steps: ["read 5", "+6 +7 +8"], since: 6, current: 8,
             expected: "7 8"),
        Case(name: "a repeated or older delta is ignored", steps: ["read 5", "+6", "+6 +7", "+5"], since: 5, current: 7,
             expected: "6 7"),
        Case(name: "a later read does not lower what is known", capacity: 2, steps: ["read 5", "+6 +7 +8", "read 3"], since: 5,
             current: 8, expected: "snapshot"),
    ]

    @Test(arguments: cases)
    func resume(_ example: Case) {
        var history = DeltaHistory(capacity: example.capacity)
        for step in example.steps {
            if step.hasPrefix("read ") {
                history.noteRead(version: Int(step.dropFirst(5))!)
            } else {
                history.append(step.split(separator: " ").map { AvailabilityDelta(version: Int($0.dropFirst())!, json: "{}") })
            }
        }
        let described = switch history.resume(since: example.since, current: example.current) {
        case .upToDate: "up to date"
        case .snapshot: "snapshot"
        case .deltas(let deltas): deltas.map { "\($0.version)" }.joined(separator: " ")
        }
        #expect(described == example.expected)
    }
}
