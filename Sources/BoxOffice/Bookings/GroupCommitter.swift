import Synchronization

/// Group commit: callers submit requests and get their own result, while the requests that
/// arrive while batches are being written go together in the next (`GroupCommitQueue`). No
/// timer and no task of its own: a batch is written by the task of one of its requests (its
/// leader), which hands the next batch to that batch's first request. An idle committer writes
/// a lone request at once, as a batch of one.
final class GroupCommitter<Request: Sendable, Output: Sendable>: Sendable {
    typealias Outcome = Result<Output, any Error>

    private struct Item: Sendable {
        var id: Int
        var request: Request
        var turn: CheckedContinuation<Turn, Never>
    }

    private enum Turn: Sendable {
        case lead([Item])
        case done(Outcome)
    }

    private struct State {
        var queue: GroupCommitQueue<Item>
        var nextID = 0
    }

    private let state: Mutex<State>
    /// Writes one batch; answers one outcome per request, in order.
    private let write: @Sendable ([Request]) async -> [Outcome]

    init(
        maximumBatch: Int, maximumInFlight: Int, keys: @escaping @Sendable (Request) -> [String],
        write: @escaping @Sendable ([Request]) async -> [Outcome]
    ) {
        self.state = Mutex(State(queue: GroupCommitQueue(maximumBatch: maximumBatch, maximumInFlight: maximumInFlight, keys: { keys($0.request) })))
        self.write = write
    }

    func submit(_ request: Request) async throws -> Output {
        let turn = await withCheckedContinuation { (continuation: CheckedContinuation<Turn, Never>) in
            let batch = state.withLock { state -> [Item]? in
                state.nextID += 1
                return state.queue.submit(Item(id: state.nextID, request: request, turn: continuation))
            }
            // Idle: this request leads a batch (of itself and whatever else waited).
            if let batch { batch[0].turn.resume(returning: .lead(batch)) }
        }
        switch turn {
        case .done(let outcome):
            return try outcome.get()
        case .lead(let batch):
            let outcomes = await write(batch.map(\.request))
            var mine: Outcome?
            for (item, outcome) in zip(batch, outcomes) {
                if item.id == batch[0].id { mine = outcome } else { item.turn.resume(returning: .done(outcome)) }
            }
            if let next = state.withLock({ $0.queue.finished(batch) }) { next[0].turn.resume(returning: .lead(next)) }
            return try mine!.get()
        }
    }
}
