/// Which waiting items go to PostgreSQL together, and when (natural batching: no timer). Up to
/// `maximumInFlight` batches are written at once; what arrives meanwhile waits and forms the
/// next one. Items that share a key (an event id, a payment) never share a batch, nor are they
/// in two batches in flight at once: the later one waits for a later batch, where it sees the
/// earlier one's effect, as it would one after the other. Pure: the committer keeps it under a
/// lock and does what it answers.
struct GroupCommitQueue<Item> {
    let maximumBatch: Int
    let maximumInFlight: Int
    let keys: (Item) -> [String]
    private(set) var waiting: [Item] = []
    private(set) var inFlight = 0
    /// The keys of the items in the batches in flight, counted (two batches never share one).
    private var keysInFlight: [String: Int] = [:]

    init(maximumBatch: Int, maximumInFlight: Int = 1, keys: @escaping (Item) -> [String]) {
        self.maximumBatch = max(1, maximumBatch)
        self.maximumInFlight = max(1, maximumInFlight)
        self.keys = keys
    }

    /// An item arrives: a batch to write now (this item in it) when fewer than the maximum
    /// are in flight.
    mutating func submit(_ item: Item) -> [Item]? {
        waiting.append(item)
        return inFlight < maximumInFlight ? takeBatch() : nil
    }

    /// A batch in flight is written: the next one to write, or nil.
    mutating func finished(_ batch: [Item]) -> [Item]? {
        inFlight -= 1
        for key in batch.flatMap(keys) {
            keysInFlight[key, default: 1] -= 1
            if keysInFlight[key] == 0 { keysInFlight[key] = nil }
        }
        return takeBatch()
    }

    /// In arrival order, up to `maximumBatch` items none of which shares a key with an earlier
    /// one or with a batch in flight; the others keep their places. Nil when none can go.
    private mutating func takeBatch() -> [Item]? {
        var batch: [Item] = []
        var left: [Item] = []
        var taken = Set(keysInFlight.keys)
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
        guard !batch.isEmpty else { return nil }
        waiting = left
        inFlight += 1
        for key in batch.flatMap(keys) { keysInFlight[key, default: 0] += 1 }
        return batch
    }
}
