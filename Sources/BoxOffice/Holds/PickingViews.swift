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
        /// What the read found, plus the claims and taken seats added since.
        var unavailable: Set<Int>
        /// Blocks claimed since the read, kept across a refresh by a read that started before
        /// they were claimed (it may not show them yet).
        var claims: [(seats: [Int], at: ContinuousClock.Instant)] = []
    }

    private let views = Mutex<[Int: View]>([:])
    private let maxAge: Duration

    init(maxAge: Duration) {
        self.maxAge = maxAge
    }

    /// Picks the best block free in the view and marks it unavailable there; nil when the view
    /// is missing, older than `maxAge`, or has no such block (its claims may be why): then read
    /// the seats from Redis. A request with a read of its own may claim in any view at least as
    /// new as that read, whatever `maxAge` (the view is then its read plus everyone's claims),
    /// and never claims a seat its read and lost rounds found taken (a view refreshed meanwhile
    /// may not show them yet).
    func claim(showtimeID: Int, count: Int, category: String?, with picker: BestAvailable, after ownRead: SeatsRead? = nil) -> [Int]? {
        views.withLock { views in
            guard let readAt = views[showtimeID]?.readAt else { return nil }
            let now = ContinuousClock.now
            guard now - readAt <= maxAge || ownRead.map({ readAt >= $0.at }) == true else { return nil }
            // Read in place (no copy of the set): the closure runs before the view changes.
            guard let block = picker.pick(count: count, category: category, isFree: { seat in
                !views[showtimeID]!.unavailable.contains(seat) && ownRead?.unavailable.contains(seat) != true
            }) else { return nil }
            views[showtimeID]!.unavailable.formUnion(block)
            views[showtimeID]!.claims.append((block, now))
            return block
        }
    }

    /// Replaces the view with seats just read from Redis, keeping the blocks claimed since the
    /// read started: at the opening of a sale every request reads at once, and a view that
    /// dropped its claims at each read would send them all to the same best block again. (A
    /// block claimed just before the read whose hold had not reached Redis yet is dropped:
    /// that costs a lost round, never a wrong answer.) At most one claim per seat is kept.
    func refresh(showtimeID: Int, unavailable: Set<Int>, readAt: ContinuousClock.Instant) {
        views.withLock { views in
            if let current = views[showtimeID], current.readAt > readAt { return }  // a newer read won
            var view = View(readAt: readAt, unavailable: unavailable)
            view.claims = views[showtimeID]?.claims.filter { $0.at >= readAt } ?? []
            for claim in view.claims { view.unavailable.formUnion(claim.seats) }
            if views.count >= 1024 { views.removeAll(keepingCapacity: true) }  // bounded; a miss costs one read
            views[showtimeID] = view
        }
    }

    /// Seats the hold script found taken.
    func markTaken(showtimeID: Int, seatIDs: [Int]) {
        views.withLock { views in _ = views[showtimeID]?.unavailable.formUnion(seatIDs) }
    }
}

/// One request's own read of a showtime's unavailable seats, with the seats its lost rounds
/// found taken since.
struct SeatsRead: Sendable {
    var unavailable: Set<Int>
    let at: ContinuousClock.Instant
}
