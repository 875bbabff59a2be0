/// When a waiting person's open stream is told their place again: at once when their status
/// changes (admitted, sold out, the opening that tells places), otherwise when their place or
/// estimate moved, no more often than their wait warrants (a quarter of the estimate, within
/// `minimumGap`…`maximumGap`: someone an hour away needs no update every second).
public struct QueuePushPolicy: Sendable, Equatable {
    public var minimumGap: Duration
    public var maximumGap: Duration
    /// A stream with nothing to say sends a keep-alive this often.
    public var heartbeat: Duration

    public init(minimumGap: Duration = .seconds(1), maximumGap: Duration = .seconds(5), heartbeat: Duration = .seconds(15)) {
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
            return elapsed >= gap(estimate: wait) ? .send : .wait
        case let (.soldOut(lastWaiting), .soldOut(waiting)):
            if lastWaiting != waiting, elapsed >= maximumGap { return .send }
        default:
            if !last.sameStatus(as: next) { return .send }
        }
        return elapsed >= heartbeat ? .heartbeat : .wait
    }

    func gap(estimate seconds: Int?) -> Duration {
        guard let seconds else { return maximumGap }
        return min(maximumGap, max(minimumGap, .milliseconds(seconds * 250)))
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
