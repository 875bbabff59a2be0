/// The latest deltas of one showtime as this instance's subscription received them, so that a
/// client that reconnects with the last version it saw gets only what it missed, not the whole
/// seat map again.
///
/// `floor` is what makes that safe: every delta published after version `floor` reached this
/// subscription (it is in `deltas`, or on its way: one channel's messages arrive in order).
/// It is known once a delta arrived (its version minus one) or once a reader read the version
/// after the subscription was made; trimming the oldest deltas raises it.
public struct DeltaHistory: Sendable, Equatable {
    public let capacity: Int
    public private(set) var floor: Int?
    /// Ascending versions, all above `floor`; not necessarily contiguous (a version that a
    /// reload of the sold cache took publishes no delta).
    public private(set) var deltas: [AvailabilityDelta] = []

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// What a client that last saw `since` needs, given the version `current` read after its
    /// feed was registered.
    public enum Resume: Sendable, Equatable {
        /// Nothing changed since: no snapshot, the next delta comes on the feed.
        case upToDate
        /// These deltas (possibly none yet: the rest are on their way), then the feed.
        case deltas([AvailabilityDelta])
        /// The client's version is unknown here, gone from the history, or from another life
        /// of Redis: a fresh seat map.
        case snapshot
    }

    /// A reader read `version` after this subscription was made: every later delta reaches it.
    public mutating func noteRead(version: Int) {
        if floor == nil { floor = version }
    }

    /// Deltas the subscription delivered, in order (older or repeated ones are ignored).
    public mutating func append(_ batch: [AvailabilityDelta]) {
        for delta in batch where delta.version > (deltas.last?.version ?? floor ?? Int.min) {
            if floor == nil { floor = delta.version - 1 }
            deltas.append(delta)
        }
        if deltas.count > capacity {
            let dropped = deltas.count - capacity
            floor = deltas[dropped - 1].version
            deltas.removeFirst(dropped)
        }
    }

    public func resume(since: Int?, current: Int) -> Resume {
        guard let since, since <= current else { return .snapshot }
        if since == current { return .upToDate }
        guard let floor, since >= floor else { return .snapshot }
        let missed = deltas.drop { $0.version <= since }
        // A version without a delta in between (the sold cache was reloaded) means the client
        // cannot rebuild the map from deltas.
        var expected = since + 1
        for delta in missed {
            guard delta.version == expected else { return .snapshot }
            expected += 1
        }
        return .deltas(Array(missed))
    }
}
