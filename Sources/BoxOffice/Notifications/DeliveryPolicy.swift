import Foundation

/// When a failed delivery is tried again, and when it is given up: the rule, apart from the
/// worker that applies it.
public struct DeliveryPolicy: Sendable, Equatable {
    /// The wait after the first failure; each further failure doubles it, up to `longestWait`.
    public var firstWait: Duration
    public var longestWait: Duration
    /// Attempts in all before a delivery is dead (kept, readable, never tried again).
    public var maxAttempts: Int

    public init(firstWait: Duration = .seconds(5), longestWait: Duration = .seconds(3600), maxAttempts: Int = 10) {
        self.firstWait = firstWait
        self.longestWait = longestWait
        self.maxAttempts = maxAttempts
    }

    public enum Next: Sendable, Equatable {
        case delivered
        case retry(after: Duration)
        case dead
    }

    /// What follows attempt number `attempt` (1 for the first) that ended `succeeded` or not.
    public func next(afterAttempt attempt: Int, succeeded: Bool) -> Next {
        if succeeded { return .delivered }
        guard attempt < maxAttempts else { return .dead }
        let doublings = min(max(attempt - 1, 0), 40)
        let wait = firstWait * Double(1 << min(doublings, 30))
        return .retry(after: min(wait, longestWait))
    }

    /// A receiver answered with `status`: 2xx is delivered; anything else (a redirect too, which
    /// is never followed) is a failure to retry.
    public static func isSuccess(status: Int) -> Bool { (200..<300).contains(status) }
}

/// The events a webhook may ask for.
public enum NotificationEventType: String, Sendable, CaseIterable, Codable {
    case bookingConfirmed = "booking.confirmed"
    case bookingCancelled = "booking.cancelled"
    case refundRecorded = "refund.recorded"
    case paymentFailed = "payment.failed"
    case showtimeCancelled = "showtime.cancelled"
    case showtimeNearlySoldOut = "showtime.nearly_sold_out"
}
