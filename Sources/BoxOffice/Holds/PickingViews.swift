import Synchronization

/// This instance's view of each showtime's unavailable seats, for best-available picks.
///
/// During a rush every best-available request would otherwise read all of a showtime's seats
/// from Redis. Instead picks start from a view at most `maxAge` old, and each pick claims its
/// block in the view at once, so concurrent picks on this instance spread over different
/// blocks instead of all trying the same best one. The view only guides: the hold script
/// decides, and seats it reports taken are added to the view.
final class PickingViews: Sendable {
    private struct View {
        var readAt: ContinuousClock.Instant
        var unavailable: Set<Int>
    }

    private let views = Mutex<[Int: View]>([:])
    private let maxAge: Duration

    init(maxAge: Duration) {
        self.maxAge = maxAge
    }

    /// Picks the best block free in the view and marks it unavailable there; nil when the view
    /// is missing, older than `maxAge`, or has no such block (its claims may be why): then read
    /// the seats from Redis.
    func claim(showtimeID: Int, count: Int, category: String?, with picker: BestAvailable) -> [Int]? {
        views.withLock { views in
            guard let readAt = views[showtimeID]?.readAt, ContinuousClock.now - readAt <= maxAge else { return nil }
            // Read in place (no copy of the set): the closure runs before the view changes.
            guard let block = picker.pick(count: count, category: category, isFree: { !views[showtimeID]!.unavailable.contains($0) })
            else { return nil }
            views[showtimeID]!.unavailable.formUnion(block)
            return block
        }
    }

    /// Replaces the view with seats just read from Redis.
    func refresh(showtimeID: Int, unavailable: Set<Int>, readAt: ContinuousClock.Instant) {
        views.withLock { views in
            if let current = views[showtimeID], current.readAt > readAt { return }  // a newer read won
            if views.count >= 1024 { views.removeAll(keepingCapacity: true) }  // bounded; a miss costs one read
            views[showtimeID] = View(readAt: readAt, unavailable: unavailable)
        }
    }

    /// Seats the hold script found taken.
    func markTaken(showtimeID: Int, seatIDs: [Int]) {
        views.withLock { views in _ = views[showtimeID]?.unavailable.formUnion(seatIDs) }
    }
}
