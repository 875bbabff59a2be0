public import PostgresClient

/// A booking's life: `pending` from checkout until its payment reports; then `confirmed` (a
/// ticket), `payment_failed`, `failed` (paid, but not honoured: refunded), `expired` (no report
/// in time), or `cancelled`.
public enum BookingStatus: String, Sendable, CaseIterable, Codable, PostgresCodable {
    case pending, confirmed, failed
    case paymentFailed = "payment_failed"
    case expired, cancelled

    /// Still waiting for its money: a payment that arrives may confirm it.
    public var awaitsPayment: Bool { self == .pending || self == .expired }
    /// Holds (or may yet hold) seats, so an owner or the staff may cancel it.
    public var isCancellable: Bool { self == .pending || self == .confirmed }
}

/// A payment as the provider reported it.
public enum PaymentStatus: String, Sendable, CaseIterable, PostgresCodable {
    case open, succeeded, failed
}

/// What a provider's callback says happened to a payment.
public enum PaymentEventStatus: String, Sendable, CaseIterable, Codable, PostgresCodable {
    case succeeded, failed
}

/// Why money is returned.
public enum RefundReason: String, Sendable, CaseIterable, PostgresCodable {
    case seatsLost = "seats_lost"
    case bookingClosed = "booking_closed"
    case amountMismatch = "amount_mismatch"
    case showtimeCancelled = "showtime_cancelled"
    case showtimeStarted = "showtime_started"
    case cancelledByOwner = "cancelled_by_owner"
    case cancelledByAdmin = "cancelled_by_admin"
}

extension PostgresEncodable where Self: RawRepresentable, RawValue == String {
    public var postgresText: String? { rawValue }
}

extension PostgresDecodable where Self: RawRepresentable, RawValue == String {
    public init?(postgresText text: String) { self.init(rawValue: text) }
}
