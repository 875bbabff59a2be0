@testable import BoxOffice
import Testing

/// Which callbacks go to PostgreSQL together: items are "e1/p1" (event id / payment id).
@Suite struct GroupCommitQueueTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var maximumBatch: Int
        /// Before the first batch finishes, in this order: an item arrives ("+e1/p1"), or the
        /// batch in flight finishes ("done").
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
    ]

    @Test(arguments: cases) func batches(_ test: Case) {
        var queue = GroupCommitQueue<String>(maximumBatch: test.maximumBatch) { item in
            item.split(separator: "/").map { String($0) }
        }
        var started: [[String]] = []
        for step in test.steps {
            let batch = step == "done" ? queue.finished() : queue.submit(String(step.dropFirst()))
            if let batch { started.append(batch) }
        }
        #expect(started == test.batches)
        #expect(queue.waiting == test.waiting)
    }
}
