/// Which waiting items go to PostgreSQL together, and when (natural batching: no timer). At
/// most one batch is in flight; what arrives meanwhile waits and forms the next one. Items
/// that share a key (an event id, a payment) never share a batch — the later one waits for the
/// next, where it sees the earlier one's effect, as it would one after the other. Pure: the
/// committer keeps it under a lock and does what it answers.
struct GroupCommitQueue<Item> {
    let maximumBatch: Int
    let keys: (Item) -> [String]
    private(set) var waiting: [Item] = []
    private(set) var inFlight = false

    init(maximumBatch: Int, keys: @escaping (Item) -> [String]) {
        self.maximumBatch = max(1, maximumBatch)
        self.keys = keys
    }

    /// An item arrives: the batch to write now (this item in it) when none is in flight.
    mutating func submit(_ item: Item) -> [Item]? {
        waiting.append(item)
        guard !inFlight else { return nil }
        return takeBatch()
    }

    /// The batch in flight is written: the next one, or nil when nothing waits (idle).
    mutating func finished() -> [Item]? {
        inFlight = false
        return waiting.isEmpty ? nil : takeBatch()
    }

    /// In arrival order, up to `maximumBatch` items none of which shares a key with an earlier
    /// one taken; the others keep their places.
    private mutating func takeBatch() -> [Item] {
        var batch: [Item] = []
        var left: [Item] = []
        var taken: Set<String> = []
        for item in waiting {
            let itemKeys = keys(item)
            if batch.count < maximumBatch, taken.isDisjoint(with: itemKeys) {
                batch.append(item)
            } else {
                left.append(item)
            }
            // A skipped item's keys block later ones too: they must not overtake it.
            taken.formUnion(itemKeys)
        }
        waiting = left
        inFlight = true
        return batch
    }
}
