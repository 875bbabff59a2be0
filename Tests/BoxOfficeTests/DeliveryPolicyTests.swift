@testable import BoxOffice
import Testing

/// When a failed webhook delivery is tried again, and when it is given up.
@Suite struct DeliveryPolicyTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var attempt: Int
        var succeeded: Bool
        var expected: DeliveryPolicy.Next
        var testDescription: String { name }
    }

    static let policy = DeliveryPolicy(firstWait: .seconds(5), longestWait: .seconds(60), maxAttempts: 5)

    static let cases: [Case] = [
        Case(name: "an accepted attempt is delivered", attempt: 1, succeeded: true, expected: .delivered),
        Case(name: "the first failure waits the first wait", attempt: 1, succeeded: false, expected: .retry(after: .seconds(5))),
        Case(name: "each failure doubles the wait", attempt: 2, succeeded: false, expected: .retry(after: .seconds(10))),
        Case(name: "and again", attempt: 3, succeeded: false, expected: .retry(after: .seconds(20))),
        Case(name: "the fourth failure waits eight times the first", attempt: 4, succeeded: false, expected: .retry(after: .seconds(40))),
        Case(name: "the last attempt's failure gives up", attempt: 5, succeeded: false, expected: .dead),
        Case(name: "the last attempt may still succeed", attempt: 5, succeeded: true, expected: .delivered),
        Case(name: "a count past the last (a lease that ran out) gives up", attempt: 9, succeeded: false, expected: .dead),
    ]

    @Test(arguments: cases)
    func next(_ example: Case) {
        #expect(Self.policy.next(afterAttempt: example.attempt, succeeded: example.succeeded) == example.expected)
    }

    @Test func longWaitsAreCapped() {
        let policy = DeliveryPolicy(firstWait: .seconds(5), longestWait: .seconds(60), maxAttempts: 100)
        #expect(policy.next(afterAttempt: 50, succeeded: false) == .retry(after: .seconds(60)))
    }

    @Test(arguments: [(200, true), (204, true), (299, true), (302, false), (404, false), (500, false)])
    func onlyA2xxAnswerDelivers(status: Int, delivers: Bool) {
        #expect(DeliveryPolicy.isSuccess(status: status) == delivers)
    }
}
