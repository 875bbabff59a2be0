@testable import BoxOffice
import Testing

/// Which callbacks go to PostgreSQL together: items are "e1/p1" (event id / payment id).
@Suite struct GroupCommitQueueTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var maximumBatch: Int
        var maximumInFlight = 1
        /// In this order: an item arrives ("+e1/p1"), or the oldest batch in flight finishes
        /// ("done").
        var steps: [String]
        /// The batches started, in order.
        var batches: [[String]]
        var waiting: [String]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "an idle queue writes a lone item at once", maximumBatch: 8,
             steps: ["+e1/p1"], batches: [["e1/p1"]], waiting: []),
        Case(name: "what arrives during a batch goes together in the next", maximumBatch: 8,
             steps: ["+e1/p1", "+e2/p2", "+e3/p3", "done"], batches: [["e1/p1"], ["e2/p2", "e3/p3"]], waiting: []),
        Case(name: "a batch is never larger than the maximum; the rest keep their order", maximumBatch: 2,
             steps: ["+e1/p1", "+e2/p2", "+e3/p3", "+e4/p4", "done"], batches: [["e1/p1"], ["e2/p2", "e3/p3"]], waiting: ["e4/p4"]),
        Case(name: "a replay of an event goes in the next batch, after the first", maximumBatch: 8,
             steps: ["+e1/p1", "+e2/p2", "+e2/p2", "+e3/p3", "done"], batches: [["e1/p1"], ["e2/p2", "e3/p3"]], waiting: ["e2/p2"]),
        Case(name: "two events of one payment never share a batch", maximumBatch: 8,
             steps: ["+e1/p1", "+e2/p2", "+e3/p2", "done", "done"], batches: [["e1/p1"], ["e2/p2"], ["e3/p2"]], waiting: []),
        Case(name: "an item kept back blocks later ones with its keys from overtaking it", maximumBatch: 1,
             steps: ["+e1/p1", "+e2/p2", "+e3/p2", "done", "done", "done"],
             batches: [["e1/p1"], ["e2/p2"], ["e3/p2"]], waiting: []),
        Case(name: "finishing with nothing waiting leaves the queue idle for the next arrival", maximumBatch: 8,
             steps: ["+e1/p1", "done", "+e2/p2"], batches: [["e1/p1"], ["e2/p2"]], waiting: []),
        Case(name: "with two in flight the second arrival starts its own batch at once", maximumBatch: 8, maximumInFlight: 2,
             steps: ["+e1/p1", "+e2/p2", "+e3/p3", "+e4/p4", "done"], batches: [["e1/p1"], ["e2/p2"], ["e3/p3", "e4/p4"]], waiting: []),
        Case(name: "an item whose payment is in a batch in flight waits for that batch", maximumBatch: 8, maximumInFlight: 2,
             steps: ["+e1/p1", "+e2/p1", "+e3/p3", "done"], batches: [["e1/p1"], ["e3/p3"], ["e2/p1"]], waiting: []),
        Case(name: "nothing starts while every waiting item's keys are in flight", maximumBatch: 8, maximumInFlight: 2,
             steps: ["+e1/p1", "+e1/p1"], batches: [["e1/p1"]], waiting: ["e1/p1"]),
    ]

    @Test(arguments: cases) func batches(_ test: Case) {
        var queue = GroupCommitQueue<String>(maximumBatch: test.maximumBatch, maximumInFlight: test.maximumInFlight) { item in
            item.split(separator: "/").map { String($0) }
        }
        var started: [[String]] = []
        var inFlight: [[String]] = []
        for step in test.steps {
            let batch = step == "done" ? queue.finished(inFlight.removeFirst()) : queue.submit(String(step.dropFirst()))
            if let batch {
                started.append(batch)
                inFlight.append(batch)
            }
        }
        #expect(started == test.batches)
        #expect(queue.waiting == test.waiting)
    }
}
