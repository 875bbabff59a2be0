import BoxOffice
import Foundation
import Testing

/// When a waiting person's stream is told their place again.
@Suite struct QueuePushPolicyTests {
    typealias State = WaitingRoom.State
    static let policy = QueuePushPolicy(minimumGap: .seconds(1), maximumGap: .seconds(5), heartbeat: .seconds(15))
    static let admitted = State.admitted(pass: "p", passExpiresAt: Date(timeIntervalSince1970: 0))

    /// (last told, now, seconds since, decision)
    static let table: [(State, State, Double, QueuePushPolicy.Decision)] = [
        // A change of status is told at once.
        (.waiting(ahead: 3, waiting: 9, estimatedWaitSeconds: 2), admitted, 0.1, .send),
        (.waiting(ahead: 3, waiting: 9, estimatedWaitSeconds: 2), .soldOut(waiting: 9), 0.1, .send),
        (.soldOut(waiting: 9), .waiting(ahead: 3, waiting: 9, estimatedWaitSeconds: 2), 0.1, .send),
        (.waiting(ahead: 3, waiting: 9, estimatedWaitSeconds: 2), .expired, 0.1, .send),
        // The opening tells the drawn places at once.
        (.waiting(ahead: nil, waiting: 9, estimatedWaitSeconds: nil), .waiting(ahead: 500, waiting: 9, estimatedWaitSeconds: 100), 0.1, .send),
        // A moving place: no more often than half the estimate told last, within 1…5 s here.
        (.waiting(ahead: 3, waiting: 9, estimatedWaitSeconds: 2), .waiting(ahead: 2, waiting: 8, estimatedWaitSeconds: 1), 0.5, .wait),
        (.waiting(ahead: 3, waiting: 9, estimatedWaitSeconds: 2), .waiting(ahead: 2, waiting: 8, estimatedWaitSeconds: 1), 1.0, .send),
        (.waiting(ahead: 20, waiting: 99, estimatedWaitSeconds: 6), .waiting(ahead: 10, waiting: 89, estimatedWaitSeconds: 3), 2.0, .wait),
        (.waiting(ahead: 20, waiting: 99, estimatedWaitSeconds: 6), .waiting(ahead: 10, waiting: 89, estimatedWaitSeconds: 3), 3.0, .send),
        (.waiting(ahead: 900, waiting: 999, estimatedWaitSeconds: 3600), .waiting(ahead: 800, waiting: 899, estimatedWaitSeconds: 3200), 4.0, .wait),
        (.waiting(ahead: 900, waiting: 999, estimatedWaitSeconds: 3600), .waiting(ahead: 800, waiting: 899, estimatedWaitSeconds: 3200), 5.0, .send),
        // Paused (no estimate): every 5 s at most.
        (.waiting(ahead: 9, waiting: 20, estimatedWaitSeconds: nil), .waiting(ahead: 8, waiting: 19, estimatedWaitSeconds: nil), 4.0, .wait),
        // Nothing new: a keep-alive now and then.
        (.waiting(ahead: 3, waiting: 9, estimatedWaitSeconds: 2), .waiting(ahead: 3, waiting: 12, estimatedWaitSeconds: 2), 3.0, .wait),
        (.waiting(ahead: 3, waiting: 9, estimatedWaitSeconds: 2), .waiting(ahead: 3, waiting: 9, estimatedWaitSeconds: 2), 15.0, .heartbeat),
        (.soldOut(waiting: 9), .soldOut(waiting: 8), 1.0, .wait),
        (.soldOut(waiting: 9), .soldOut(waiting: 8), 5.0, .send),
    ]

    @Test(arguments: table.indices)
    func aStreamIsToldWhatTheTableSays(_ index: Int) {
        let (last, next, seconds, decision) = Self.table[index]
        #expect(Self.policy.decide(last: last, next: next, elapsed: .milliseconds(Int(seconds * 1000))) == decision)
    }

    @Test func aPlaceIsOnlyReadForStreamsDueToBeToldOne() {
        let policy = Self.policy
        #expect(policy.isDue(last: .waiting(ahead: nil, waiting: 9, estimatedWaitSeconds: nil), elapsed: .zero), "the opening may have come")
        #expect(!policy.isDue(last: .waiting(ahead: 20, waiting: 99, estimatedWaitSeconds: 6), elapsed: .seconds(2)))
        #expect(policy.isDue(last: .waiting(ahead: 20, waiting: 99, estimatedWaitSeconds: 6), elapsed: .seconds(3)))
        #expect(!policy.isDue(last: .soldOut(waiting: 9), elapsed: .seconds(4)))
        #expect(policy.isDue(last: .soldOut(waiting: 9), elapsed: .seconds(5)))
        #expect(QueuePushPolicy().gap(estimate: 600) == .seconds(15), "the default: at most every 15 s")
        #expect(QueuePushPolicy().gap(estimate: 1) == .seconds(2), "and at least 2 s apart")
    }

    @Test func aStreamEndsOnceThereIsNothingMoreToTell() {
        #expect(Self.admitted.isFinal)
        #expect(State.expired.isFinal && State.left.isFinal && State.done.isFinal)
        #expect(!State.soldOut(waiting: 1).isFinal)
        #expect(!State.waiting(ahead: 1, waiting: 2, estimatedWaitSeconds: 1).isFinal)
    }
}
