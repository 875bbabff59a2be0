/// What a payment callback did.
public enum CallbackOutcome: String, Sendable, CaseIterable {
    case confirmed
    /// The provider reported a failed payment: the booking is `payment_failed`, the hold released.
    case paymentFailed = "payment_failed"
    /// Paid, but a seat was no longer free: the booking `failed` and a refund was recorded.
    case seatsLost = "seats_lost"
    /// Paid for a booking that was already cancelled or failed: refunded.
    case bookingClosed = "booking_closed"
    /// The amount or currency differs from the booking's: never confirmed; what was paid is refunded.
    case amountMismatch = "amount_mismatch"
    /// Paid for a showtime that was cancelled: never confirmed; the whole amount is refunded.
    case showtimeCancelled = "showtime_cancelled"
    /// Paid once the showtime had started: never confirmed; the whole amount is refunded.
    case showtimeStarted = "showtime_started"
    /// Another event already settled this payment.
    case alreadySettled = "already_settled"
    case unknownPayment = "unknown_payment"
    /// This event id was processed before: nothing changed.
    case duplicate
}

/// The money rules of a payment callback, as a pure value: given the payment, its booking,
/// the booking's seat rows and its showtime as locked in PostgreSQL, and the event, it decides
/// the new statuses and what follows (seats to sell, a refund, a hold to release). The
/// ledger's statements are around it, never inside it.
///
/// Every path ends in one of two places for money that arrived: a confirmed booking, or a
/// refund of what was paid.
public struct Settlement: Sendable, Equatable {
    /// The provider's report.
    public struct Event: Sendable, Equatable {
        public var status: PaymentEventStatus
        public var amount: Int
        public var currency: String

        public init(status: PaymentEventStatus, amount: Int, currency: String) {
            self.status = status
            self.amount = amount
            self.currency = currency
        }
    }

    /// One seat row of the booking as locked.
    public struct Seat: Sendable, Equatable {
        public var id: Int
        public var isSold: Bool
        /// Still at the version read at checkout (nobody sold and freed it since).
        public var isUnchanged: Bool

        public init(id: Int, isSold: Bool, isUnchanged: Bool) {
            self.id = id
            self.isSold = isSold
            self.isUnchanged = isUnchanged
        }

        var isFree: Bool { !isSold && isUnchanged }
    }

    /// What PostgreSQL holds for the payment, locked.
    public struct State: Sendable, Equatable {
        public var payment: PaymentStatus
        public var amount: Int
        public var currency: String
        public var booking: BookingStatus
        public var showtime: ShowtimeStatus
        public var showtimeStarted: Bool
        /// The booking's seats as booked at checkout.
        public var bookedSeatIDs: [Int]
        /// Their rows as locked now (a row that no longer exists is missing).
        public var seats: [Seat]
        /// Some seat is held in Redis by another hold (read before the locks; false when unknown).
        public var seatsHeldByOthers: Bool

        public init(
            payment: PaymentStatus, amount: Int, currency: String, booking: BookingStatus, showtime: ShowtimeStatus,
            showtimeStarted: Bool, bookedSeatIDs: [Int], seats: [Seat], seatsHeldByOthers: Bool
        ) {
            self.payment = payment
            self.amount = amount
            self.currency = currency
            self.booking = booking
            self.showtime = showtime
            self.showtimeStarted = showtimeStarted
            self.bookedSeatIDs = bookedSeatIDs
            self.seats = seats
            self.seatsHeldByOthers = seatsHeldByOthers
        }
    }

    public struct Refund: Sendable, Equatable {
        public var amount: Int
        public var currency: String
        public var reason: RefundReason
    }

    public var outcome: CallbackOutcome
    /// The payment's new status; nil leaves it.
    public var payment: PaymentStatus?
    /// The booking's new status; nil leaves it. `confirmed` also issues the ticket.
    public var booking: BookingStatus?
    /// Seats to mark sold for the booking: all of its seats, or none.
    public var seatsToSell: [Int] = []
    public var refund: Refund?
    /// The booking's hold goes (its seats are not going to be sold to it).
    public var releasesHold = false
    /// Seats PostgreSQL showed sold (to someone else): Redis must not offer them.
    public var seatsSeenSold: [Int] = []

    /// The decision for `event` on `state`.
    public static func decide(_ event: Event, _ state: State) -> Settlement {
        let awaiting = state.booking.awaitsPayment
        // A success after a reported failure (a provider's retry) is money received: it goes
        // through the rules below, which end in a confirmation or a refund.
        guard state.payment == .open || (state.payment == .failed && event.status == .succeeded) else {
            return Settlement(outcome: .alreadySettled)
        }
        if event.status == .failed {
            return Settlement(
                outcome: .paymentFailed, payment: .failed, booking: awaiting ? .paymentFailed : nil, releasesHold: awaiting
            )
        }
        guard event.amount == state.amount, event.currency.uppercased() == state.currency.uppercased() else {
            // What was paid goes back, whatever it was.
            return Settlement(
                outcome: .amountMismatch, payment: .succeeded, booking: awaiting ? .failed : nil,
                refund: Refund(amount: event.amount, currency: event.currency.uppercased(), reason: .amountMismatch),
                releasesHold: awaiting
            )
        }
        let wholeAmount = { (reason: RefundReason) in Refund(amount: state.amount, currency: state.currency, reason: reason) }
        if state.showtime == .cancelled {
            // Pending at the cancel (the cancel closed it already) or paid as the cancel committed.
            return Settlement(
                outcome: .showtimeCancelled, payment: .succeeded, booking: awaiting ? .cancelled : nil,
                refund: wholeAmount(.showtimeCancelled), releasesHold: awaiting
            )
        }
        guard awaiting else {
            return Settlement(outcome: .bookingClosed, payment: .succeeded, refund: wholeAmount(.bookingClosed))
        }
        if state.showtimeStarted {
            return Settlement(
                outcome: .showtimeStarted, payment: .succeeded, booking: .failed, refund: wholeAmount(.showtimeStarted),
                releasesHold: true
            )
        }
        let lockedIDs = state.seats.map(\.id)
        if !state.bookedSeatIDs.isEmpty, lockedIDs.sorted() == state.bookedSeatIDs.sorted(),
           state.seats.allSatisfy(\.isFree), !state.seatsHeldByOthers {
            return Settlement(outcome: .confirmed, payment: .succeeded, booking: .confirmed, seatsToSell: lockedIDs)
        }
        return Settlement(
            outcome: .seatsLost, payment: .succeeded, booking: .failed, refund: wholeAmount(.seatsLost), releasesHold: true,
            seatsSeenSold: state.seats.filter(\.isSold).map(\.id)
        )
    }
}
