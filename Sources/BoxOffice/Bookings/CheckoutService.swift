import Crypto
public import Foundation
public import Logging
public import PostgresClient
import RedisClient

/// A pending booking and where to pay for it.
public struct Checkout: Sendable, Equatable {
    public var bookingID: UUID
    public var status: String
    public var amountMinor: Int
    public var currency: String
    public var paymentID: String
    public var payURL: String
}

/// What a payment callback did.
public enum CallbackOutcome: String, Sendable {
    case confirmed
    /// The provider reported a failed payment: the booking is `payment_failed`, the hold released.
    case paymentFailed = "payment_failed"
    /// Paid, but a seat was no longer free: the booking `failed` and a refund was recorded.
    case seatsLost = "seats_lost"
    /// Paid for a booking that was already cancelled or failed: refunded.
    case bookingClosed = "booking_closed"
    /// The amount or currency differs from the booking's: never confirmed; what was paid is refunded.
    case amountMismatch = "amount_mismatch"
    /// Another event already settled this payment.
    case alreadySettled = "already_settled"
    case unknownPayment = "unknown_payment"
    /// This event id was processed before: nothing changed.
    case duplicate
}

/// Checkout and payment confirmation: PostgreSQL is the truth, Redis is told after commit.
public struct CheckoutService: Sendable {
    let postgres: PostgresPool
    let holds: HoldService
    let provider: any PaymentProvider
    let signature: PaymentSignature
    let settings: BoxOfficeSettings
    let logger: Logger

    public init(
        postgres: PostgresPool, holds: HoldService, provider: any PaymentProvider, settings: BoxOfficeSettings, logger: Logger
    ) {
        self.postgres = postgres
        self.holds = holds
        self.provider = provider
        self.signature = PaymentSignature(secret: settings.paymentSecret, tolerance: settings.callbackTolerance.timeInterval)
        self.settings = settings
        self.logger = logger
    }

    // MARK: - Checkout

    /// Turns the owner's live hold into a pending booking with an open payment. The same hold
    /// (or the same `Idempotency-Key`) checked out again answers the same booking.
    public func checkout(holdID: String, owner: UUID, idempotencyKey: String?) async throws -> Checkout {
        if let idempotencyKey, !(1...200).contains(idempotencyKey.count) {
            throw BoxOfficeError.validation(field: "Idempotency-Key", "must be 1 to 200 characters.")
        }
        let hold: SeatHold
        do {
            hold = try await holds.hold(id: holdID, for: owner)  // 404 for others, 410 once expired
        } catch let error as BoxOfficeError where error.kind == .notFound || error.kind == .gone {
            // A confirmed booking's hold leaves Redis, and a pending one's may lapse: an earlier
            // checkout of it is still the answer.
            if let existing = try await existingCheckout(owner: owner, holdID: holdID, idempotencyKey: idempotencyKey) {
                return existing
            }
            throw error
        } catch let error as RedisError {
            // Without Redis no hold can be checked out, but a repeat of one that was still has its answer.
            if let existing = try await existingCheckout(owner: owner, holdID: holdID, idempotencyKey: idempotencyKey) {
                return existing
            }
            throw error
        }
        // The first checkout of a hold, without a key, needs no lookup: its hold records no
        // booking yet. A repeat that finds no record (it came before the record was written, or
        // Redis lost it) opens the payment of the same booking id, which the provider answers
        // with the same payment, and then meets the unique hold id below.
        if hold.bookingID != nil || idempotencyKey != nil,
           let existing = try await existingCheckout(owner: owner, holdID: holdID, idempotencyKey: idempotencyKey) {
            return existing
        }
        let bookingID = Self.bookingID(forHold: holdID)
        let opened = try await provider.openPayment(bookingID: bookingID, amountMinor: hold.total, currency: hold.currency)
        let seatIDs = hold.seats.map(\.id)
        let row: PostgresRow
        do {
            // One statement, so one round trip and atomic without BEGIN/COMMIT: read each seat's
            // version, and write the booking, its seats (with those versions) and the payment
            // only when every seat has its row and none is sold.
            row = try await postgres.query("""
                WITH seats AS (
                    SELECT seat_id, version, status FROM showtime_seats
                    WHERE showtime_id = \(hold.showtimeID) AND seat_id = ANY(\(seatIDs))
                ), sold AS (
                    SELECT coalesce(array_agg(seat_id ORDER BY seat_id), '{}') AS seat_ids FROM seats WHERE status = 'sold'
                ), booking AS (
                    INSERT INTO bookings (id, user_id, showtime_id, hold_id, status, amount_minor, currency, idempotency_key)
                    SELECT \(bookingID), \(owner), \(hold.showtimeID), \(holdID), 'pending', \(hold.total), \(hold.currency), \(idempotencyKey)
                    FROM sold WHERE cardinality(sold.seat_ids) = 0 AND (SELECT count(*) FROM seats) = \(seatIDs.count)
                    RETURNING id
                ), booked_seats AS (
                    INSERT INTO booking_seats (booking_id, showtime_id, seat_id, price_minor, expected_version)
                    SELECT booking.id, \(hold.showtimeID), s.seat, s.price, seats.version
                    FROM booking, unnest(\(seatIDs), \(hold.seats.map(\.price))) AS s(seat, price)
                    JOIN seats ON seats.seat_id = s.seat
                ), payment AS (
                    INSERT INTO payments (booking_id, provider, provider_payment_id, amount_minor, currency, pay_url)
                    SELECT booking.id, \(provider.name), \(opened.providerPaymentID), \(hold.total), \(hold.currency), \(opened.payURL)
                    FROM booking
                )
                SELECT sold.seat_ids AS sold, (SELECT count(*) FROM booking) AS booked FROM sold
                """).first!
        } catch let error as PostgresError where error.code == .uniqueViolation {
            // A concurrent checkout of the same hold (or key) committed first: its booking is the answer.
            if let existing = try await existingCheckout(owner: owner, holdID: holdID, idempotencyKey: idempotencyKey) {
                return existing
            }
            throw error
        }
        let sold = try row.decode([Int].self, column: "sold")
        if !sold.isEmpty {
            throw BoxOfficeError(
                .conflict, code: "seats_sold", message: "Some of these seats were sold meanwhile; hold others.",
                details: ["seat_ids": .ints(sold)]
            )
        }
        guard try row.decode(Int.self, column: "booked") == 1 else {
            // A held seat with no row for this showtime: nothing was written.
            throw BoxOfficeError(.conflict, code: "seats_changed", message: "This showtime's seats changed; hold your seats again.")
        }
        // Cover paying: one extension beyond the person's own, which then cannot extend further.
        do {
            if case .extended(let expiresAt, _) = try await holds.store.extend(
                showtimeID: hold.showtimeID, holdID: holdID, owner: owner, by: settings.paymentWindow, maximumExtensions: 1_000,
                bookingID: bookingID
            ) {
                try await holds.store.markActive(showtimeID: hold.showtimeID, until: expiresAt)
            }
        } catch {
            // The booking stands; a payment that comes after the hold lapsed follows the late-payment rule.
            logger.warning("could not extend a hold for payment", metadata: ["hold": "\(holdID)", "error": "\(error)"])
        }
        return Checkout(
            bookingID: bookingID, status: "pending", amountMinor: hold.total, currency: hold.currency,
            paymentID: opened.providerPaymentID, payURL: opened.payURL
        )
    }

    /// A hold has at most one booking (`bookings.hold_id` is unique), so its id is derived from
    /// the hold's: every checkout of one hold opens its payment under the same booking id, the
    /// provider's idempotency key.
    static func bookingID(forHold holdID: String) -> UUID {
        var bytes = Array(SHA256.hash(data: Data(("boxoffice-booking:" + holdID).utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x50  // version 5 (name-based, here with SHA-256)
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        return UUID(uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
        ))
    }

    /// The booking an earlier checkout of this hold, or with this idempotency key, made (one
    /// read). A key used for another hold is refused.
    private func existingCheckout(owner: UUID, holdID: String, idempotencyKey: String?) async throws -> Checkout? {
        let rows = try await postgres.query("""
            SELECT b.id, b.hold_id, b.idempotency_key, b.status, b.amount_minor, b.currency, p.provider_payment_id, p.pay_url
            FROM bookings b JOIN LATERAL (
                SELECT provider_payment_id, pay_url FROM payments WHERE booking_id = b.id ORDER BY created_at LIMIT 1
            ) p ON true
            WHERE b.user_id = \(owner) AND (b.hold_id = \(holdID) OR b.idempotency_key = \(idempotencyKey))
            """)
        var found: Checkout?
        for row in rows {
            if idempotencyKey != nil, try row.decode(String.self, column: "hold_id") != holdID,
               try row.decode(String?.self, column: "idempotency_key") == idempotencyKey {
                throw BoxOfficeError(
                    .validation, code: "idempotency_key_reused",
                    message: "This Idempotency-Key was used for another hold's checkout."
                )
            }
            found = Checkout(
                bookingID: try row.decode(UUID.self, column: "id"),
                status: try row.decode(String.self, column: "status"),
                amountMinor: try row.decode(Int.self, column: "amount_minor"),
                currency: try row.decode(String.self, column: "currency"),
                paymentID: try row.decode(String.self, column: "provider_payment_id"),
                payURL: try row.decode(String.self, column: "pay_url")
            )
        }
        return found
    }

    // MARK: - Payment callbacks

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
    /// The transaction is four statements whatever the outcome: record the event and lock the
    /// payment and its booking; lock the booking's seat rows; write the settlement; commit.
    public func handleCallback(body: [UInt8], signatureHeader: String?) async throws -> CallbackOutcome {
        try signature.verify(signatureHeader, body: body)
        let event = try Self.decodeEvent(body)
        var selling: Int?  // the showtime whose seats this transaction sells, once decided
        let outcome: CallbackOutcome
        let effects: Effects
        do {
            // Generic plans: every statement here names its rows by key, but the settlement's
            // branches gated by `$n IS NULL` kept PostgreSQL planning it (and the seat lock)
            // afresh at every callback — about a sixth of their time (pg_stat_statements).
            (outcome, effects) = try await postgres.withTransaction(planning: .generic) { tx -> (CallbackOutcome, Effects) in
                guard let payment = try await lockPayment(for: event, in: tx) else {
                    return (try await unrecordedOutcome(of: event, in: tx), Effects())
                }
                let settlement = try await decide(event, payment, in: tx)
                if !settlement.seatsToSell.isEmpty { selling = payment.showtimeID }
                let refundID = try await write(settlement, for: event, payment, in: tx)
                return (settlement.outcome, settlement.effects(payment, event: event, refundID: refundID))
            }
        } catch let error as PostgresError where error.code == .connectionLost {
            // The session died; if that was after the COMMIT reached PostgreSQL, the sale stands
            // and the provider's retry is a replay that tells Redis nothing: rebuild the sold
            // cache from PostgreSQL rather than leave it without these seats.
            if let selling { await holds.store.forgetSold(showtimeID: selling) }
            throw error
        }
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
        var confirm: (showtimeID: Int, holdID: String, seatIDs: [Int])?
        var release: (showtimeID: Int, holdID: String)?
        var refunds: [RefundRequest] = []
    }

    struct RefundRequest: Sendable {
        var refundID: UUID
        var providerPaymentID: String
        var amountMinor: Int
        var currency: String
    }

    /// A payment and its booking as locked for one callback.
    struct LockedPayment: Sendable {
        var paymentRowID: UUID
        /// `open`, `succeeded` or `failed`.
        var status: String
        var amount: Int
        var currency: String
        var bookingID: UUID
        var isAwaitingPayment: Bool
        var showtimeID: Int
        var holdID: String
        /// The booking's seats, in order, and each one's version as read at checkout.
        var seatIDs: [Int]
        var expectedVersions: [Int]
    }

    /// Records the event (a replay inserts nothing) and locks its payment and booking: one
    /// statement. Nil when nothing was locked: a replay, or a payment nobody knows.
    private func lockPayment(for event: PaymentEvent, in tx: PostgresConnection) async throws -> LockedPayment? {
        guard let row = try await tx.query("""
            WITH event AS (
                INSERT INTO payment_events (provider, event_id, status, amount_minor, currency, outcome)
                VALUES (\(provider.name), \(event.eventID), \(event.status), \(event.amount), \(event.currency), 'processing')
                ON CONFLICT (provider, event_id) DO NOTHING
                RETURNING event_id
            )
            SELECT p.id AS payment_id, p.status AS payment_status, p.amount_minor, p.currency,
                   b.id AS booking_id, b.status AS booking_status, b.showtime_id, b.hold_id,
                   (SELECT array_agg(seat_id ORDER BY seat_id) FROM booking_seats WHERE booking_id = b.id) AS seat_ids,
                   (SELECT array_agg(expected_version ORDER BY seat_id) FROM booking_seats WHERE booking_id = b.id) AS versions
            FROM event, payments p JOIN bookings b ON b.id = p.booking_id
            WHERE p.provider = \(provider.name) AND p.provider_payment_id = \(event.paymentID)
            FOR NO KEY UPDATE OF p, b
            """).first else { return nil }
        let bookingStatus = try row.decode(String.self, column: "booking_status")
        return LockedPayment(
            paymentRowID: try row.decode(UUID.self, column: "payment_id"),
            status: try row.decode(String.self, column: "payment_status"),
            amount: try row.decode(Int.self, column: "amount_minor"),
            currency: try row.decode(String.self, column: "currency"),
            bookingID: try row.decode(UUID.self, column: "booking_id"),
            isAwaitingPayment: bookingStatus == "pending" || bookingStatus == "expired",
            showtimeID: try row.decode(Int.self, column: "showtime_id"),
            holdID: try row.decode(String.self, column: "hold_id"),
            seatIDs: try row.decode([Int]?.self, column: "seat_ids") ?? [],
            expectedVersions: try row.decode([Int]?.self, column: "versions") ?? []
        )
    }

    /// Why `lockPayment` locked nothing. An event this transaction recorded is still
    /// `processing` (a committed one never is): then the payment is unknown, else a replay.
    private func unrecordedOutcome(of event: PaymentEvent, in tx: PostgresConnection) async throws -> CallbackOutcome {
        let rows = try await tx.query("""
            UPDATE payment_events SET outcome = \(CallbackOutcome.unknownPayment.rawValue)
            WHERE provider = \(provider.name) AND event_id = \(event.eventID) AND outcome = 'processing'
            """)
        return rows.affectedRows > 0 ? .unknownPayment : .duplicate
    }

    /// What a callback does to a payment, its booking and its seats; written by `write`.
    struct Settlement: Sendable {
        var outcome: CallbackOutcome
        /// The payment's new status; nil leaves it.
        var paymentStatus: String?
        /// The booking's new status; nil leaves it. `confirmed` also sets the ticket code.
        var bookingStatus: String?
        /// Seats to mark sold for the booking (all of its seats, or none).
        var seatsToSell: [Int] = []
        var refund: (amount: Int, currency: String, reason: String)?
        var releasesHold = false

        func effects(_ payment: LockedPayment, event: PaymentEvent, refundID: UUID?) -> Effects {
            var effects = Effects()
            if !seatsToSell.isEmpty { effects.confirm = (payment.showtimeID, payment.holdID, seatsToSell) }
            if releasesHold { effects.release = (payment.showtimeID, payment.holdID) }
            if let refund, let refundID {
                effects.refunds.append(RefundRequest(
                    refundID: refundID, providerPaymentID: event.paymentID, amountMinor: refund.amount, currency: refund.currency
                ))
            }
            return effects
        }
    }

    /// The rules: a failure fails an unpaid booking; money that arrived ends as a confirmed
    /// booking or a refund. A booking is confirmed only if every seat row is still at the
    /// version read at checkout and free, and no other hold holds a seat in Redis.
    private func decide(_ event: PaymentEvent, _ payment: LockedPayment, in tx: PostgresConnection) async throws -> Settlement {
        // A success after a reported failure (a provider's retry) is money received: it goes
        // through the rules below, which end in a confirmation or a refund.
        guard payment.status == "open" || (payment.status == "failed" && event.status == "succeeded") else {
            return Settlement(outcome: .alreadySettled)
        }
        if event.status == "failed" {
            return Settlement(
                outcome: .paymentFailed, paymentStatus: "failed",
                bookingStatus: payment.isAwaitingPayment ? "payment_failed" : nil, releasesHold: payment.isAwaitingPayment
            )
        }
        guard event.amount == payment.amount, event.currency.uppercased() == payment.currency.uppercased() else {
            return Settlement(
                outcome: .amountMismatch, paymentStatus: "succeeded", bookingStatus: payment.isAwaitingPayment ? "failed" : nil,
                refund: (event.amount, event.currency.uppercased(), "amount_mismatch"), releasesHold: payment.isAwaitingPayment
            )
        }
        guard payment.isAwaitingPayment else {
            return Settlement(
                outcome: .bookingClosed, paymentStatus: "succeeded", refund: (payment.amount, payment.currency, "booking_closed")
            )
        }
        // Every seat row of the booking, locked in seat order (so two confirmations of the same
        // seats cannot deadlock); `free` is judged on the row as locked. NO KEY: no key changes,
        // so checkouts' foreign-key checks on these rows need not wait. The seats are named by
        // id: joined from booking_seats, a planner that misjudged a young table's size read
        // every seat row of the showtime for each callback.
        let seats = try await tx.query("""
            SELECT ss.seat_id, (ss.version = e.version AND ss.status = 'available') AS free
            FROM showtime_seats ss JOIN unnest(\(payment.seatIDs), \(payment.expectedVersions)) AS e(seat_id, version)
                ON e.seat_id = ss.seat_id
            WHERE ss.showtime_id = \(payment.showtimeID) AND ss.seat_id = ANY(\(payment.seatIDs))
            ORDER BY ss.seat_id
            FOR NO KEY UPDATE OF ss
            """)
        let seatIDs = try seats.map { try $0.decode(Int.self, column: "seat_id") }
        let allFree = try seats.allSatisfy { try $0.decode(Bool.self, column: "free") }
        if allFree, !seatIDs.isEmpty, seatIDs.count == payment.seatIDs.count, try await !seatsHeldByOtherHolds(payment, seatIDs: seatIDs) {
            return Settlement(outcome: .confirmed, paymentStatus: "succeeded", bookingStatus: "confirmed", seatsToSell: seatIDs)
        }
        return Settlement(
            outcome: .seatsLost, paymentStatus: "succeeded", bookingStatus: "failed",
            refund: (payment.amount, payment.currency, "seats_lost"), releasesHold: true
        )
    }

    /// Writes a settlement and the event's outcome in one statement; the refund's id, if any.
    private func write(
        _ settlement: Settlement, for event: PaymentEvent, _ payment: LockedPayment, in tx: PostgresConnection
    ) async throws -> UUID? {
        let rows = try await tx.query("""
            WITH payment AS (
                UPDATE payments SET status = \(settlement.paymentStatus)::text, updated_at = now()
                WHERE id = \(payment.paymentRowID) AND \(settlement.paymentStatus)::text IS NOT NULL
            ), booking AS (
                UPDATE bookings SET status = \(settlement.bookingStatus)::text, updated_at = now(),
                    ticket_code = CASE WHEN \(settlement.bookingStatus)::text = 'confirmed' THEN \(TicketCode.make())::text ELSE ticket_code END,
                    confirmed_at = CASE WHEN \(settlement.bookingStatus)::text = 'confirmed' THEN now() ELSE confirmed_at END
                WHERE id = \(payment.bookingID) AND \(settlement.bookingStatus)::text IS NOT NULL
            ), seats AS (
                UPDATE showtime_seats SET status = 'sold', version = version + 1, booking_id = \(payment.bookingID)
                WHERE showtime_id = \(payment.showtimeID) AND seat_id = ANY(\(settlement.seatsToSell)) AND status = 'available'
                RETURNING seat_id
            ), booked_seats AS (
                UPDATE booking_seats SET active = true
                WHERE booking_id = \(payment.bookingID) AND seat_id = ANY(\(settlement.seatsToSell))
            ), refund AS (
                INSERT INTO refunds (booking_id, payment_id, amount_minor, currency, reason)
                SELECT \(payment.bookingID), \(payment.paymentRowID), \(settlement.refund?.amount), \(settlement.refund?.currency)::text,
                       \(settlement.refund?.reason)::text
                WHERE \(settlement.refund?.reason)::text IS NOT NULL
                RETURNING id
            ), event AS (
                UPDATE payment_events SET outcome = \(settlement.outcome.rawValue)::text, payment_id = \(payment.paymentRowID)
                WHERE provider = \(provider.name) AND event_id = \(event.eventID)
            )
            SELECT (SELECT id FROM refund) AS refund_id, (SELECT count(*) FROM seats) AS sold
            """)
        let row = rows.first!
        // The seat rows are locked and were free: anything else is a bug, and rolls back.
        guard try row.decode(Int.self, column: "sold") == settlement.seatsToSell.count else {
            throw PostgresError(code: .server, message: "a confirmation sold fewer seats than it locked free", sqlState: "XX000")
        }
        return try row.decode(UUID?.self, column: "refund_id")
    }

    /// True when a seat of the booking is held in Redis by a hold other than its own.
    /// Without Redis the answer is false: PostgreSQL's version check still keeps seats unique.
    private func seatsHeldByOtherHolds(_ payment: LockedPayment, seatIDs: [Int]) async throws -> Bool {
        do {
            let holders = try await holds.store.holders(showtimeID: payment.showtimeID, seatIDs: seatIDs)
            return holders.values.contains { $0 != payment.holdID }
        } catch let error as RedisError {
            logger.warning("confirming without Redis' view of the seats", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// After commit: Redis learns the sale (or the release), the provider the refunds. Failures
    /// here lose nothing: the sale stands in PostgreSQL and the sold cache is rebuilt from it.
    func perform(_ effects: Effects) async {
        if let confirm = effects.confirm {
            do {
                try await holds.store.confirm(showtimeID: confirm.showtimeID, holdID: confirm.holdID, seatIDs: confirm.seatIDs)
            } catch {
                logger.warning("sale committed but Redis was not told; dropping the sold cache", metadata: ["error": "\(error)"])
                await holds.store.forgetSold(showtimeID: confirm.showtimeID)
            }
        }
        if let release = effects.release {
            do {
                _ = try await holds.store.release(showtimeID: release.showtimeID, holdID: release.holdID, owner: nil)
            } catch {
                logger.warning("could not release a hold; it expires by itself", metadata: ["error": "\(error)"])
            }
        }
        await requestRefunds(effects.refunds)
    }

    func requestRefunds(_ refunds: [RefundRequest]) async {
        for refund in refunds {
            do {
                try await askProvider(for: refund)
            } catch {
                // Recorded, not requested: `requestUnrequestedRefunds` asks again later.
                logger.warning("refund request failed", metadata: ["refund": "\(refund.refundID)", "error": "\(error)"])
            }
        }
    }

    /// Asks the provider for a refund, then records that it was asked (and paid, if it says so).
    private func askProvider(for refund: RefundRequest) async throws {
        let accepted = try await provider.requestRefund(
            refundID: refund.refundID, providerPaymentID: refund.providerPaymentID,
            amountMinor: refund.amountMinor, currency: refund.currency
        )
        try await postgres.query("""
            UPDATE refunds SET requested_at = coalesce(requested_at, now()), updated_at = now(),
                status = CASE WHEN \(accepted) THEN 'succeeded' ELSE status END
            WHERE id = \(refund.refundID)
            """)
    }

    /// Asks the provider for refunds recorded at least `age` ago and never requested: their
    /// request failed, or the process stopped (or its session died) between commit and request.
    /// Each is claimed first (`requested_at` set, `SKIP LOCKED`), so instances sweeping at
    /// once ask once; a failed request gives the claim back. The number requested.
    @discardableResult
    public func requestUnrequestedRefunds(olderThan age: Duration, limit: Int = 100) async throws -> Int {
        let claimed = try await postgres.query("""
            UPDATE refunds r SET requested_at = now(), updated_at = now()
            FROM payments p
            WHERE p.id = r.payment_id AND r.id IN (
                SELECT id FROM refunds
                WHERE requested_at IS NULL AND status = 'requested' AND payment_id IS NOT NULL
                  AND created_at < now() - make_interval(secs => \(age.timeInterval))
                ORDER BY created_at LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            )
            RETURNING r.id, p.provider_payment_id, r.amount_minor, r.currency
            """)
        var requested = 0
        for row in claimed {
            let refund = RefundRequest(
                refundID: try row.decode(UUID.self, column: "id"),
                providerPaymentID: try row.decode(String.self, column: "provider_payment_id"),
                amountMinor: try row.decode(Int.self, column: "amount_minor"),
                currency: try row.decode(String.self, column: "currency")
            )
            do {
                try await askProvider(for: refund)
                requested += 1
            } catch {
                logger.warning("refund request failed again", metadata: ["refund": "\(refund.refundID)", "error": "\(error)"])
                _ = try? await postgres.query("UPDATE refunds SET requested_at = NULL WHERE id = \(refund.refundID)")
            }
        }
        return requested
    }
}

/// Ticket codes: 128 random bits, URL-safe base64 without padding.
enum TicketCode {
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
