public import Foundation

/// Whether people queue before they may hold a showtime's seats.
public enum WaitingRoomMode: String, Sendable, Codable, CaseIterable {
    /// Everyone holds seats directly.
    case off
    /// Everyone goes through the waiting room while the sale lasts.
    case always
    /// The room engages while arrivals exceed what the sale can admit.
    case automatic
}

/// When a showtime's seats may be held: the rule, apart from where its inputs are read.
public struct SaleWindow: Sendable, Equatable {
    /// nil: on sale since it was scheduled.
    public var opensAt: Date?
    public var startsAt: Date

    public init(opensAt: Date?, startsAt: Date) {
        self.opensAt = opensAt
        self.startsAt = startsAt
    }

    public enum State: Sendable, Equatable {
        case notOpenYet(opensAt: Date)
        case open
        case started
    }

    public func state(at now: Date) -> State {
        if startsAt <= now { return .started }
        if let opensAt, now < opensAt { return .notOpenYet(opensAt: opensAt) }
        return .open
    }

    /// 403 `sale_not_open`, saying when it opens.
    static func notOpen(_ opensAt: Date) -> BoxOfficeError {
        let when = SchedulingTime.format(opensAt)
        return BoxOfficeError(
            .forbidden, code: "sale_not_open", message: "Tickets for this showtime go on sale at \(when).",
            details: ["sale_opens_at": .string(when)]
        )
    }
}
