/// When a waiting person's open stream is told their place again: at once when their status
/// changes (admitted, sold out, the opening that tells places), otherwise when their place or
/// estimate moved, no more often than their wait warrants (half the estimate, within
/// `minimumGap`…`maximumGap`: someone an hour away needs no update every second). Every such
/// update costs the server a rank and a write, and thousands wait at once.
public struct QueuePushPolicy: Sendable, Equatable {
    public var minimumGap: Duration
    public var maximumGap: Duration
    /// A stream with nothing to say sends a keep-alive this often.
    public var heartbeat: Duration

    public init(minimumGap: Duration = .seconds(2), maximumGap: Duration = .seconds(15), heartbeat: Duration = .seconds(15)) {
        self.minimumGap = minimumGap
        self.maximumGap = maximumGap
        self.heartbeat = heartbeat
    }

    public enum Decision: Sendable, Equatable {
        case send
        case heartbeat
        case wait
    }

    /// What to do with `next`, having told `last` `elapsed` ago.
    public func decide(last: WaitingRoom.State, next: WaitingRoom.State, elapsed: Duration) -> Decision {
        switch (last, next) {
        case let (.waiting(lastAhead, _, lastWait), .waiting(ahead, _, wait)):
            if lastAhead == nil, ahead != nil { return .send }
            if lastAhead == ahead, lastWait == wait { break }
            return elapsed >= gap(estimate: lastWait) ? .send : .wait
        case let (.soldOut(lastWaiting), .soldOut(waiting)):
            if lastWaiting != waiting, elapsed >= maximumGap { return .send }
        default:
            if !last.sameStatus(as: next) { return .send }
        }
        return elapsed >= heartbeat ? .heartbeat : .wait
    }

    /// How long a place with this estimate is left untold.
    public func gap(estimate seconds: Int?) -> Duration {
        guard let seconds else { return maximumGap }
        return min(maximumGap, max(minimumGap, .milliseconds(seconds * 500)))
    }

    /// Whether a stream that last told `last` may be told a new place now (so its place is
    /// worth reading); a change of status is found without it.
    public func isDue(last: WaitingRoom.State, elapsed: Duration) -> Bool {
        switch last {
        case .waiting(let ahead, _, let wait): ahead == nil || elapsed >= min(gap(estimate: wait), heartbeat)
        case .soldOut: elapsed >= min(maximumGap, heartbeat)
        default: true
        }
    }
}

extension WaitingRoom.State {
    /// After these a stream has nothing more to tell: the person shops, or their ticket is over.
    public var isFinal: Bool {
        switch self {
        case .waiting, .soldOut: false
        case .admitted, .expired, .left, .done: true
        }
    }

    func sameStatus(as other: Self) -> Bool {
        switch (self, other) {
        case (.waiting, .waiting), (.admitted, .admitted), (.soldOut, .soldOut), (.expired, .expired), (.left, .left), (.done, .done): true
        default: false
        }
    }
}
