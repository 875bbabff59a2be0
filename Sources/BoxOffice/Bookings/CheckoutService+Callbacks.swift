import Foundation
import Logging
import PostgresClient
import RedisClient

// MARK: - Payment callbacks

extension CheckoutService {
    /// The body of a provider's callback.
    public struct PaymentEvent: Sendable, Codable, Equatable {
        public var eventID: String
        public var paymentID: String
        public var status: String
        public var amount: Int
        public var currency: String

        enum CodingKeys: String, CodingKey {
            case eventID = "event_id"
            case paymentID = "payment_id"
            case status, amount, currency
        }

        public init(eventID: String, paymentID: String, status: String, amount: Int, currency: String) {
            self.eventID = eventID
            self.paymentID = paymentID
            self.status = status
            self.amount = amount
            self.currency = currency
        }
    }

    /// The callback signer, for the sandbox provider's senders.
    public var signer: PaymentSignature { signature }

    /// Verifies and applies one signed callback. The event id is recorded in the same
    /// transaction as its effect, so a replay (even many at once) changes nothing.
    ///
    /// Four statements whatever the outcome (`PaymentLedger`): record the event and read what
    /// it is about; lock the payment, booking and seats; write the settlement; commit.
    /// Redis is read between the first two, before any existing row is locked (only this new
    /// event's row is, which a concurrent replay of it waits for), so a Redis stall never
    /// holds seat rows locked.
    ///
    /// The race this leaves: another hold may take a seat of this booking (its hold lapsed)
    /// after Redis was read. Then this payment confirms the seat in PostgreSQL, and the other
    /// hold's checkout finds it sold (409 `seats_sold`) — or, if that checkout came first, its
    /// payment's lock finds the seat's version moved. Either way PostgreSQL's version check on
    /// the locked row decides, so a seat is never sold twice; Redis only spares a payer a
    /// confirmation that would leave someone else's live hold unsellable.
    public func handleCallback(body: [UInt8], signatureHeader: String?) async throws -> CallbackOutcome {
        try signature.verify(signatureHeader, body: body)
        let event = try Self.decodeEvent(body)
        guard let eventStatus = PaymentEventStatus(rawValue: event.status) else {
            throw BoxOfficeError.validation(field: "status", "must be succeeded or failed.")
        }
        let reported = Settlement.Event(status: eventStatus, amount: event.amount, currency: event.currency)
        var selling: Int?  // the showtime whose seats this transaction sells, once decided
        let outcome: CallbackOutcome
        let effects: Effects
        do {
            // Generic plans: every statement here names its rows by key, but the settlement's
            // branches gated by `$n IS NULL` kept PostgreSQL planning it (and the seat lock)
            // afresh at every callback.
            (outcome, effects) = try await postgres.withTransaction(planning: .generic) { tx -> (CallbackOutcome, Effects) in
                let subject: PaymentLedger.Subject
                switch try await ledger.record(event, in: tx) {
                case .replay: return (.duplicate, Effects())
                case .unknownPayment:
                    try await ledger.recordUnknown(event, in: tx)
                    return (.unknownPayment, Effects())
                case .new(let found): subject = found
                }
                let heldByOthers = try await seatsHeldByOthers(subject, event: eventStatus)
                let state = try await ledger.lock(subject, seatsHeldByOthers: heldByOthers, in: tx)
                let settlement = Settlement.decide(reported, state)
                if !settlement.seatsToSell.isEmpty { selling = subject.showtimeID }
                let written = try await ledger.write(settlement, for: event, subject, in: tx)
                return (settlement.outcome, Effects(settlement, subject, event: event, written: written))
            }
        } catch let error as PostgresError where error.code == .connectionLost {
            // The session died; if that was after the COMMIT reached PostgreSQL, the sale stands
            // and the provider's retry is a replay that tells Redis nothing: rebuild the sold
            // cache from PostgreSQL now (the outbox row would have it rebuilt within seconds).
            if let selling { await holds.forgetSold(showtimeID: selling) }
            throw error
        }
        if effects.sale != nil, let afterSaleCommit { await afterSaleCommit() }
        await perform(effects)
        logger.info("payment callback", metadata: ["event": "\(event.eventID)", "outcome": "\(outcome.rawValue)"])
        return outcome
    }

    static func decodeEvent(_ body: [UInt8]) throws(BoxOfficeError) -> PaymentEvent {
        guard let event = try? JSONDecoder().decode(PaymentEvent.self, from: Data(body)) else {
            throw BoxOfficeError(
                .badRequest, code: "invalid_body",
                message: "The callback body must be JSON with event_id, payment_id, status, amount and currency."
            )
        }
        var errors: [BoxOfficeError.FieldError] = []
        if event.eventID.isEmpty || event.eventID.count > 200 { errors.append(.init(field: "event_id", message: "must be 1 to 200 characters.")) }
        if event.paymentID.isEmpty || event.paymentID.count > 200 { errors.append(.init(field: "payment_id", message: "must be 1 to 200 characters.")) }
        if !["succeeded", "failed"].contains(event.status) { errors.append(.init(field: "status", message: "must be succeeded or failed.")) }
        if event.amount < 0 { errors.append(.init(field: "amount", message: "must not be negative.")) }
        if event.currency.count != 3 { errors.append(.init(field: "currency", message: "must be a three-letter code.")) }
        if !errors.isEmpty { throw .validation(errors) }
        return event
    }

    /// What to tell Redis and the provider once the transaction committed.
    struct Effects: Sendable {
        var sale: (showtimeID: Int, holdID: String, seats: ChangedSeats, outboxID: Int)?
        var release: (showtimeID: Int, holdID: String)?
        var seenSold: (showtimeID: Int, seatIDs: [Int])?
        var refunds: [RefundRequest] = []

        init() {}

        init(_ settlement: Settlement, _ subject: PaymentLedger.Subject, event: PaymentEvent, written: PaymentLedger.Written) {
            if !settlement.seatsToSell.isEmpty, let outboxID = written.outboxID {
                sale = (subject.showtimeID, subject.holdID, written.sold, outboxID)
            }
            if settlement.releasesHold { release = (subject.showtimeID, subject.holdID) }
            if !settlement.seatsSeenSold.isEmpty { seenSold = (subject.showtimeID, settlement.seatsSeenSold) }
            if let refund = settlement.refund, let refundID = written.refundID {
                refunds.append(RefundRequest(
                    refundID: refundID, providerPaymentID: event.paymentID, amountMinor: refund.amount, currency: refund.currency
                ))
            }
        }
    }

    /// Whether a seat of the booking is held in Redis by another hold — asked only when the
    /// payment could confirm. Without Redis the answer is false: PostgreSQL's version check
    /// still keeps seats unique.
    private func seatsHeldByOthers(_ subject: PaymentLedger.Subject, event: PaymentEventStatus) async throws -> Bool {
        guard event == .succeeded, subject.booking.awaitsPayment, subject.showtime == .scheduled, !subject.seatIDs.isEmpty else {
            return false
        }
        do {
            return try await holds.seatsHeldByOthers(showtimeID: subject.showtimeID, holdID: subject.holdID, seatIDs: subject.seatIDs)
        } catch is RedisError {
            logger.warning("settling without Redis' view of the seats")
            return false
        }
    }

    /// After commit: Redis learns the sale (or the release), the provider the refunds. Failures
    /// here lose nothing: the sale stands in PostgreSQL and its outbox row has Redis rebuilt.
    private func perform(_ effects: Effects) async {
        if let sale = effects.sale {
            await holds.applySale(showtimeID: sale.showtimeID, holdID: sale.holdID, seats: sale.seats, outboxID: sale.outboxID)
        }
        if let release = effects.release { await holds.releaseAny(showtimeID: release.showtimeID, holdID: release.holdID) }
        if let seen = effects.seenSold { await holds.repairSold(showtimeID: seen.showtimeID, seatIDs: seen.seatIDs) }
        await refunds.request(effects.refunds)
    }
}
