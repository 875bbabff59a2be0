import Foundation
import Logging
import Metrics
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
    /// it is about; lock the payment, booking and seats; write the settlement; commit. With
    /// group commit (the default) those four serve a whole batch of callbacks.
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
        let (outcome, effects) = if let committer {
            try await committer.submit(CallbackRequest(event: event, reported: reported))
        } else {
            try await settle(event, reported)
        }
        if effects.sale != nil, let afterSaleCommit { await afterSaleCommit() }
        await perform(effects)
        logger.info("payment callback", metadata: ["event": "\(event.eventID)", "outcome": "\(outcome.rawValue)"])
        return outcome
    }

    /// One callback in a transaction of its own (group commit off).
    func settle(_ event: PaymentEvent, _ reported: Settlement.Event) async throws -> (CallbackOutcome, Effects) {
        var selling: Int?  // the showtime whose seats this transaction sells, once decided
        do {
            // Generic plans: every statement here names its rows by key, but the settlement's
            // branches gated by `$n IS NULL` kept PostgreSQL planning it (and the seat lock)
            // afresh at every callback.
            return try await postgres.withTransaction(planning: .generic) { tx -> (CallbackOutcome, Effects) in
                let subject: PaymentLedger.Subject
                switch try await ledger.record(event, in: tx) {
                case .replay: return (.duplicate, Effects())
                case .unknownPayment:
                    try await ledger.recordUnknown(event, in: tx)
                    return (.unknownPayment, Effects())
                case .new(let found): subject = found
                }
                let heldByOthers = try await seatsHeldByOthers(subject, event: reported.status)
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
    }

    /// How many callbacks each batch wrote (1 when the server is quiet).
    static let batchSizes = Recorder(label: "boxoffice_payment_callback_batch_size")

    /// A callback waiting for its batch.
    struct CallbackRequest: Sendable {
        var event: PaymentEvent
        var reported: Settlement.Event
    }

    /// A batch of callbacks in one transaction of four statements (`PaymentLedger+Batch`),
    /// each item with the outcome it would have had alone after the items before it. A
    /// deadlock or serialisation failure rolls the whole batch back and it is tried again (up
    /// to three times); any other failure is every item's answer, as it would have been each
    /// one's alone (nothing was recorded, so the provider's retry is processed afresh).
    func settle(batch requests: [CallbackRequest]) async -> [Result<(CallbackOutcome, Effects), any Error>] {
        Self.batchSizes.record(requests.count)
        logger.debug("payment callbacks in one batch", metadata: ["size": "\(requests.count)"])
        if requests.count == 1 {
            // A batch of one is the single callback's transaction: cheaper than the arrays.
            do {
                return [.success(try await settle(requests[0].event, requests[0].reported))]
            } catch {
                return [.failure(error)]
            }
        }
        var attempt = 0
        while true {
            attempt += 1
            var selling: Set<Int> = []
            do {
                let settled = try await postgres.withTransaction(planning: .generic) { tx in
                    try await settle(batch: requests, selling: &selling, in: tx)
                }
                return settled.map { .success($0) }
            } catch let error as PostgresError where [.deadlockDetected, .serializationFailure].contains(error.code) && attempt < 3 {
                logger.info("a batch of payment callbacks is tried again", metadata: ["error": "\(error)", "size": "\(requests.count)"])
            } catch let error as PostgresError where error.code == .connectionLost {
                for showtime in selling { await holds.forgetSold(showtimeID: showtime) }
                return requests.map { _ in .failure(error) }
            } catch {
                return requests.map { _ in .failure(error) }
            }
        }
    }

    private func settle(
        batch requests: [CallbackRequest], selling: inout Set<Int>, in tx: PostgresConnection
    ) async throws -> [(CallbackOutcome, Effects)] {
        let recorded = try await ledger.record(batch: requests.map(\.event), in: tx)
        var subjects: [(index: Int, subject: PaymentLedger.Subject)] = []
        for (index, answer) in recorded.enumerated() {
            if case .new(let subject) = answer { subjects.append((index, subject)) }
        }
        // Redis' view of every subject's seats, all at once, before any existing row is locked.
        let held = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for (position, item) in subjects.enumerated() {
                let status = requests[item.index].reported.status
                group.addTask { (position, try await seatsHeldByOthers(item.subject, event: status)) }
            }
            var held = Array(repeating: false, count: subjects.count)
            for try await (position, answer) in group { held[position] = answer }
            return held
        }
        let states = subjects.isEmpty ? [] : try await ledger.lock(batch: subjects.map(\.subject), heldByOthers: held, in: tx)
        // Decided in batch order: a seat an earlier item sells is sold for the later ones.
        var settlements: [Int: Settlement] = [:]
        var claimed: Set<String> = []
        for ((index, subject), var state) in zip(subjects, states) {
            state.seats = state.seats.map { seat in
                claimed.contains("\(subject.showtimeID):\(seat.id)") ? Settlement.Seat(id: seat.id, isSold: true, isUnchanged: false) : seat
            }
            let settlement = Settlement.decide(requests[index].reported, state)
            for seat in settlement.seatsToSell { claimed.insert("\(subject.showtimeID):\(seat)") }
            if !settlement.seatsToSell.isEmpty { selling.insert(subject.showtimeID) }
            settlements[index] = settlement
        }
        let subjectAt = Dictionary(uniqueKeysWithValues: subjects.map { ($0.index, $0.subject) })
        var writes: [PaymentLedger.BatchWrite] = []
        var writeIndices: [Int] = []
        for (index, answer) in recorded.enumerated() {
            switch answer {
            case .replay: continue
            case .unknownPayment: writes.append(.init(event: requests[index].event))
            case .new(let subject): writes.append(.init(event: requests[index].event, subject: subject, settlement: settlements[index]))
            }
            writeIndices.append(index)
        }
        let written = writes.isEmpty ? [] : try await ledger.write(batch: writes, in: tx)
        var results: [(CallbackOutcome, Effects)] = recorded.map { _ in (.duplicate, Effects()) }
        for (position, index) in writeIndices.enumerated() {
            guard let subject = subjectAt[index], let settlement = settlements[index] else {
                results[index] = (.unknownPayment, Effects())
                continue
            }
            results[index] = (
                settlement.outcome, Effects(settlement, subject, event: requests[index].event, written: written[position])
            )
        }
        return results
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
