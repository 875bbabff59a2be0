@testable import BoxOffice
import Testing

/// Every cell of the payment callback's rules, without PostgreSQL or Redis.
@Suite struct SettlementTests {
    /// A pending booking of two free seats (1 and 2) for 3000 EUR on a scheduled showtime.
    static func state(
        payment: PaymentStatus = .open, booking: BookingStatus = .pending, showtime: ShowtimeStatus = .scheduled,
        started: Bool = false, seats: [Settlement.Seat] = [.init(id: 1, isSold: false, isUnchanged: true), .init(id: 2, isSold: false, isUnchanged: true)],
        heldByOthers: Bool = false
    ) -> Settlement.State {
        Settlement.State(
            payment: payment, amount: 3000, currency: "EUR", booking: booking, showtime: showtime, showtimeStarted: started,
            bookedSeatIDs: [1, 2], seats: seats, seatsHeldByOthers: heldByOthers
        )
    }

    static let paid = Settlement.Event(status: .succeeded, amount: 3000, currency: "EUR")
    static let declined = Settlement.Event(status: .failed, amount: 3000, currency: "EUR")
    static let free = Settlement.Seat(id: 1, isSold: false, isUnchanged: true)
    static let soldToAnother = Settlement.Seat(id: 2, isSold: true, isUnchanged: false)
    static let soldAndFreedSince = Settlement.Seat(id: 2, isSold: false, isUnchanged: false)

    struct Cell: Sendable, CustomTestStringConvertible {
        var name: String
        var event: Settlement.Event
        var state: Settlement.State
        var expected: Settlement
        var testDescription: String { name }
    }

    static func refund(_ amount: Int, _ reason: RefundReason, currency: String = "EUR") -> Settlement.Refund {
        Settlement.Refund(amount: amount, currency: currency, reason: reason)
    }

    /// The whole amount, back.
    static func refund(_ reason: RefundReason) -> Settlement.Refund {
        refund(3000, reason)
    }

    static let cells: [Cell] = [
        Cell(name: "succeeded: confirmed, both seats sold", event: paid, state: state(),
             expected: Settlement(outcome: .confirmed, payment: .succeeded, booking: .confirmed, seatsToSell: [1, 2])),
        Cell(name: "failed: payment_failed, hold released", event: declined, state: state(),
             expected: Settlement(outcome: .paymentFailed, payment: .failed, booking: .paymentFailed, releasesHold: true)),
        Cell(name: "failed after the booking expired: payment_failed", event: declined, state: state(booking: .expired),
             expected: Settlement(outcome: .paymentFailed, payment: .failed, booking: .paymentFailed, releasesHold: true)),
        Cell(name: "failed for a cancelled booking: only the payment changes", event: declined, state: state(booking: .cancelled),
             expected: Settlement(outcome: .paymentFailed, payment: .failed)),
        Cell(name: "wrong amount: never confirmed, what was paid refunded",
             event: .init(status: .succeeded, amount: 2999, currency: "EUR"), state: state(),
             expected: Settlement(outcome: .amountMismatch, payment: .succeeded, booking: .failed,
                                  refund: refund(2999, .amountMismatch), releasesHold: true)),
        Cell(name: "wrong currency: refunded in the currency paid",
             event: .init(status: .succeeded, amount: 3000, currency: "usd"), state: state(),
             expected: Settlement(outcome: .amountMismatch, payment: .succeeded, booking: .failed,
                                  refund: refund(3000, .amountMismatch, currency: "USD"), releasesHold: true)),
        Cell(name: "currency in lower case is the same currency", event: .init(status: .succeeded, amount: 3000, currency: "eur"),
             state: state(), expected: Settlement(outcome: .confirmed, payment: .succeeded, booking: .confirmed, seatsToSell: [1, 2])),
        Cell(name: "already settled: a second success changes nothing", event: paid, state: state(payment: .succeeded, booking: .confirmed),
             expected: Settlement(outcome: .alreadySettled)),
        Cell(name: "already settled: a failure after a success changes nothing", event: declined,
             state: state(payment: .succeeded, booking: .confirmed), expected: Settlement(outcome: .alreadySettled)),
        Cell(name: "already settled: a second failure changes nothing", event: declined,
             state: state(payment: .failed, booking: .paymentFailed), expected: Settlement(outcome: .alreadySettled)),
        Cell(name: "success after a reported failure: money arrived, refunded as the booking is closed", event: paid,
             state: state(payment: .failed, booking: .paymentFailed),
             expected: Settlement(outcome: .bookingClosed, payment: .succeeded, refund: refund(.bookingClosed))),
        Cell(name: "after expiry, seats still free: confirmed", event: paid, state: state(booking: .expired),
             expected: Settlement(outcome: .confirmed, payment: .succeeded, booking: .confirmed, seatsToSell: [1, 2])),
        Cell(name: "after expiry, a seat sold to another: seats lost, refunded, the cache told", event: paid,
             state: state(booking: .expired, seats: [free, soldToAnother]),
             expected: Settlement(outcome: .seatsLost, payment: .succeeded, booking: .failed, refund: refund(.seatsLost),
                                  releasesHold: true, seatsSeenSold: [2])),
        Cell(name: "after expiry, a seat sold and freed since: its version moved, seats lost", event: paid,
             state: state(booking: .expired, seats: [free, soldAndFreedSince]),
             expected: Settlement(outcome: .seatsLost, payment: .succeeded, booking: .failed, refund: refund(.seatsLost), releasesHold: true)),
        Cell(name: "after expiry, a seat held by another hold: seats lost", event: paid, state: state(booking: .expired, heldByOthers: true),
             expected: Settlement(outcome: .seatsLost, payment: .succeeded, booking: .failed, refund: refund(.seatsLost), releasesHold: true)),
        Cell(name: "a seat row missing: seats lost", event: paid, state: state(seats: [free]),
             expected: Settlement(outcome: .seatsLost, payment: .succeeded, booking: .failed, refund: refund(.seatsLost), releasesHold: true)),
        Cell(name: "booking cancelled by its owner: refunded", event: paid, state: state(booking: .cancelled),
             expected: Settlement(outcome: .bookingClosed, payment: .succeeded, refund: refund(.bookingClosed))),
        Cell(name: "booking failed before: refunded", event: paid, state: state(booking: .failed),
             expected: Settlement(outcome: .bookingClosed, payment: .succeeded, refund: refund(.bookingClosed))),
        Cell(name: "showtime cancelled while pending: booking cancelled, whole amount refunded", event: paid,
             state: state(showtime: .cancelled),
             expected: Settlement(outcome: .showtimeCancelled, payment: .succeeded, booking: .cancelled,
                                  refund: refund(.showtimeCancelled), releasesHold: true)),
        Cell(name: "showtime cancelled, booking cancelled by the cancel: whole amount refunded", event: paid,
             state: state(booking: .cancelled, showtime: .cancelled),
             expected: Settlement(outcome: .showtimeCancelled, payment: .succeeded, refund: refund(.showtimeCancelled))),
        Cell(name: "showtime cancelled, seats free: still never confirmed", event: paid, state: state(booking: .expired, showtime: .cancelled),
             expected: Settlement(outcome: .showtimeCancelled, payment: .succeeded, booking: .cancelled,
                                  refund: refund(.showtimeCancelled), releasesHold: true)),
        Cell(name: "showtime cancelled and a wrong amount: what was paid is refunded", event: .init(status: .succeeded, amount: 10, currency: "EUR"),
             state: state(showtime: .cancelled),
             expected: Settlement(outcome: .amountMismatch, payment: .succeeded, booking: .failed,
                                  refund: refund(10, .amountMismatch), releasesHold: true)),
        Cell(name: "showtime started: never confirmed, refunded", event: paid, state: state(started: true),
             expected: Settlement(outcome: .showtimeStarted, payment: .succeeded, booking: .failed,
                                  refund: refund(.showtimeStarted), releasesHold: true)),
        Cell(name: "showtime cancelled and a failed payment: the booking stays as the cancel left it", event: declined,
             state: state(booking: .cancelled, showtime: .cancelled), expected: Settlement(outcome: .paymentFailed, payment: .failed)),
    ]

    @Test(arguments: cells) func theRulesDecide(_ cell: Cell) {
        #expect(Settlement.decide(cell.event, cell.state) == cell.expected)
    }

    @Test(arguments: cells) func moneyThatArrivedEndsAsATicketOrARefund(_ cell: Cell) {
        let settlement = Settlement.decide(cell.event, cell.state)
        guard cell.event.status == .succeeded, settlement.outcome != .alreadySettled else { return }
        let confirmed = settlement.booking == .confirmed
        #expect(confirmed != (settlement.refund != nil), "exactly one of a ticket and a refund")
        if confirmed { #expect(settlement.seatsToSell.sorted() == cell.state.bookedSeatIDs.sorted()) }
        if cell.state.showtime == .cancelled { #expect(!confirmed, "never confirmed on a cancelled showtime") }
    }
}
