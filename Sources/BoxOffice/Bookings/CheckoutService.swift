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
        if let idempotencyKey {
            guard (1...200).contains(idempotencyKey.count) else {
                throw BoxOfficeError.validation(field: "Idempotency-Key", "must be 1 to 200 characters.")
            }
            if let existing = try await existingCheckout(owner: owner, idempotencyKey: idempotencyKey) {
                guard existing.holdID == holdID else {
                    throw BoxOfficeError(
                        .validation, code: "idempotency_key_reused",
                        message: "This Idempotency-Key was used for another hold's checkout."
                    )
                }
                return existing.checkout
            }
        }
        if let existing = try await existingCheckout(owner: owner, holdID: holdID) { return existing.checkout }

        let hold = try await holds.hold(id: holdID, for: owner)  // 404 for others, 410 once expired
        let bookingID = UUID()
        let opened = try await provider.openPayment(bookingID: bookingID, amountMinor: hold.total, currency: hold.currency)
        let seatIDs = hold.seats.map(\.id)
        do {
            try await postgres.withTransaction { tx in
                let rows = try await tx.query("""
                    SELECT seat_id, version, status FROM showtime_seats
                    WHERE showtime_id = \(hold.showtimeID) AND seat_id = ANY(\(seatIDs))
                    """)
                var versions: [Int: Int] = [:]
                var sold: [Int] = []
                for row in rows {
                    let seat = try row.decode(Int.self, column: "seat_id")
                    versions[seat] = try row.decode(Int.self, column: "version")
                    if try row.decode(String.self, column: "status") == "sold" { sold.append(seat) }
                }
                if !sold.isEmpty {
                    throw BoxOfficeError(
                        .conflict, code: "seats_sold", message: "Some of these seats were sold meanwhile; hold others.",
                        details: ["seat_ids": .ints(sold.sorted())]
                    )
                }
                try await tx.query("""
                    INSERT INTO bookings (id, user_id, showtime_id, hold_id, status, amount_minor, currency, idempotency_key)
                    VALUES (\(bookingID), \(owner), \(hold.showtimeID), \(holdID), 'pending', \(hold.total), \(hold.currency), \(idempotencyKey))
                    """)
                try await tx.query("""
                    INSERT INTO booking_seats (booking_id, showtime_id, seat_id, price_minor, expected_version)
                    SELECT \(bookingID), \(hold.showtimeID), seat, price, version
                    FROM unnest(\(seatIDs), \(hold.seats.map(\.price)), \(seatIDs.map { versions[$0] ?? 0 })) AS s(seat, price, version)
                    """)
                try await tx.query("""
                    INSERT INTO payments (booking_id, provider, provider_payment_id, amount_minor, currency, pay_url)
                    VALUES (\(bookingID), \(provider.name), \(opened.providerPaymentID), \(hold.total), \(hold.currency), \(opened.payURL))
                    """)
            }
        } catch let error as PostgresError where error.code == .uniqueViolation {
            // A concurrent checkout of the same hold (or key) committed first: its booking is the answer.
            if let existing = try await existingCheckout(owner: owner, holdID: holdID) { return existing.checkout }
            throw error
        }
        // Cover paying: one extension beyond the person's own, which then cannot extend further.
        do {
            if case .extended(let expiresAt, _) = try await holds.store.extend(
                showtimeID: hold.showtimeID, holdID: holdID, owner: owner, by: settings.paymentWindow, maximumExtensions: 1_000
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

    private struct ExistingCheckout {
        var holdID: String
        var checkout: Checkout
    }

    private func existingCheckout(owner: UUID, holdID: String) async throws -> ExistingCheckout? {
        try await existing(try await postgres.query("""
            SELECT b.id, b.hold_id, b.status, b.amount_minor, b.currency, p.provider_payment_id, p.pay_url
            FROM bookings b JOIN payments p ON p.booking_id = b.id
            WHERE b.user_id = \(owner) AND b.hold_id = \(holdID)
            ORDER BY p.created_at LIMIT 1
            """))
    }

    private func existingCheckout(owner: UUID, idempotencyKey: String) async throws -> ExistingCheckout? {
        try await existing(try await postgres.query("""
            SELECT b.id, b.hold_id, b.status, b.amount_minor, b.currency, p.provider_payment_id, p.pay_url
            FROM bookings b JOIN payments p ON p.booking_id = b.id
            WHERE b.user_id = \(owner) AND b.idempotency_key = \(idempotencyKey)
            ORDER BY p.created_at LIMIT 1
            """))
    }

    private func existing(_ rows: PostgresRows) async throws -> ExistingCheckout? {
        guard let row = rows.first else { return nil }
        return ExistingCheckout(
            holdID: try row.decode(String.self, column: "hold_id"),
            checkout: Checkout(
                bookingID: try row.decode(UUID.self, column: "id"),
                status: try row.decode(String.self, column: "status"),
                amountMinor: try row.decode(Int.self, column: "amount_minor"),
                currency: try row.decode(String.self, column: "currency"),
                paymentID: try row.decode(String.self, column: "provider_payment_id"),
                payURL: try row.decode(String.self, column: "pay_url")
            )
        )
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
    public func handleCallback(body: [UInt8], signatureHeader: String?) async throws -> CallbackOutcome {
        try signature.verify(signatureHeader, body: body)
        let event = try Self.decodeEvent(body)
        // Who holds the booking's seats in Redis now, read before any row is locked: a seat
        // another hold took after this one lapsed is not free, even if PostgreSQL says so.
        let takenByOthers = try await seatsHeldByOtherHolds(providerPaymentID: event.paymentID)

        let (outcome, effects) = try await postgres.withTransaction { tx -> (CallbackOutcome, Effects) in
            let recorded = try await tx.query("""
                INSERT INTO payment_events (provider, event_id, status, amount_minor, currency, outcome)
                VALUES (\(provider.name), \(event.eventID), \(event.status), \(event.amount), \(event.currency), 'processing')
                ON CONFLICT (provider, event_id) DO NOTHING
                RETURNING event_id
                """)
            guard !recorded.isEmpty else { return (.duplicate, Effects()) }
            let (outcome, effects, paymentRowID) = try await apply(event, takenByOthers: takenByOthers, in: tx)
            try await tx.query("""
                UPDATE payment_events SET outcome = \(outcome.rawValue), payment_id = \(paymentRowID)
                WHERE provider = \(provider.name) AND event_id = \(event.eventID)
                """)
            return (outcome, effects)
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

    /// The event's effect on the payment, its booking and the seats, inside the transaction.
    private func apply(
        _ event: PaymentEvent, takenByOthers: Bool, in tx: PostgresConnection
    ) async throws -> (CallbackOutcome, Effects, UUID?) {
        guard let row = try await tx.query("""
            SELECT p.id AS payment_id, p.status AS payment_status, p.amount_minor, p.currency,
                   b.id AS booking_id, b.status AS booking_status, b.showtime_id, b.hold_id
            FROM payments p JOIN bookings b ON b.id = p.booking_id
            WHERE p.provider = \(provider.name) AND p.provider_payment_id = \(event.paymentID)
            FOR UPDATE OF p, b
            """).first else { return (.unknownPayment, Effects(), nil) }
        let paymentRowID = try row.decode(UUID.self, column: "payment_id")
        let bookingID = try row.decode(UUID.self, column: "booking_id")
        let bookingStatus = try row.decode(String.self, column: "booking_status")
        let showtimeID = try row.decode(Int.self, column: "showtime_id")
        let holdID = try row.decode(String.self, column: "hold_id")
        let amount = try row.decode(Int.self, column: "amount_minor")
        let currency = try row.decode(String.self, column: "currency")
        var effects = Effects()

        guard try row.decode(String.self, column: "payment_status") == "open" else {
            return (.alreadySettled, effects, paymentRowID)
        }
        let isAwaitingPayment = bookingStatus == "pending" || bookingStatus == "expired"

        if event.status == "failed" {
            try await tx.query("UPDATE payments SET status = 'failed', updated_at = now() WHERE id = \(paymentRowID)")
            if isAwaitingPayment {
                try await tx.query("UPDATE bookings SET status = 'payment_failed', updated_at = now() WHERE id = \(bookingID)")
                effects.release = (showtimeID, holdID)
            }
            return (.paymentFailed, effects, paymentRowID)
        }

        // The money arrived: whatever happens next, it is either a confirmed booking or a refund.
        try await tx.query("UPDATE payments SET status = 'succeeded', updated_at = now() WHERE id = \(paymentRowID)")
        func refund(_ reason: String, _ refundAmount: Int, _ refundCurrency: String) async throws {
            let refundID = try await tx.query("""
                INSERT INTO refunds (booking_id, payment_id, amount_minor, currency, reason)
                VALUES (\(bookingID), \(paymentRowID), \(refundAmount), \(refundCurrency), \(reason)) RETURNING id
                """).first!.decode(UUID.self, column: "id")
            effects.refunds.append(RefundRequest(
                refundID: refundID, providerPaymentID: event.paymentID, amountMinor: refundAmount, currency: refundCurrency
            ))
        }

        guard event.amount == amount, event.currency.uppercased() == currency.uppercased() else {
            if isAwaitingPayment {
                try await tx.query("UPDATE bookings SET status = 'failed', updated_at = now() WHERE id = \(bookingID)")
                effects.release = (showtimeID, holdID)
            }
            try await refund("amount_mismatch", event.amount, event.currency.uppercased())
            return (.amountMismatch, effects, paymentRowID)
        }
        guard isAwaitingPayment else {
            try await refund("booking_closed", amount, currency)
            return (.bookingClosed, effects, paymentRowID)
        }

        // Every seat must still be at the version read at checkout and free; all or none.
        try await tx.query("SAVEPOINT seats")
        let seats = try await tx.query("""
            SELECT seat_id, expected_version FROM booking_seats WHERE booking_id = \(bookingID) ORDER BY seat_id
            """)
        let seatIDs = try seats.map { try $0.decode(Int.self, column: "seat_id") }
        let versions = try seats.map { try $0.decode(Int.self, column: "expected_version") }
        var soldCount = 0
        if !takenByOthers {
            soldCount = try await tx.query("""
                UPDATE showtime_seats ss SET status = 'sold', version = ss.version + 1, booking_id = \(bookingID)
                FROM unnest(\(seatIDs), \(versions)) AS e(seat_id, version)
                WHERE ss.showtime_id = \(showtimeID) AND ss.seat_id = e.seat_id
                  AND ss.version = e.version AND ss.status = 'available'
                """).affectedRows
        }
        guard soldCount == seatIDs.count else {
            try await tx.query("ROLLBACK TO SAVEPOINT seats")
            try await tx.query("UPDATE bookings SET status = 'failed', updated_at = now() WHERE id = \(bookingID)")
            try await refund("seats_lost", amount, currency)
            effects.release = (showtimeID, holdID)
            return (.seatsLost, effects, paymentRowID)
        }
        try await tx.query("UPDATE booking_seats SET active = true WHERE booking_id = \(bookingID)")
        try await tx.query("""
            UPDATE bookings SET status = 'confirmed', ticket_code = \(TicketCode.make()), confirmed_at = now(), updated_at = now()
            WHERE id = \(bookingID)
            """)
        effects.confirm = (showtimeID, holdID, seatIDs)
        return (.confirmed, effects, paymentRowID)
    }

    /// True when a seat of the payment's booking is held in Redis by a hold other than its own.
    /// Without Redis the answer is false: PostgreSQL's version check still keeps seats unique.
    private func seatsHeldByOtherHolds(providerPaymentID: String) async throws -> Bool {
        guard let row = try await postgres.query("""
            SELECT b.showtime_id, b.hold_id, array_agg(bs.seat_id) AS seats
            FROM payments p JOIN bookings b ON b.id = p.booking_id JOIN booking_seats bs ON bs.booking_id = b.id
            WHERE p.provider = \(provider.name) AND p.provider_payment_id = \(providerPaymentID)
            GROUP BY b.showtime_id, b.hold_id
            """).first else { return false }
        let holdID = try row.decode(String.self, column: "hold_id")
        do {
            let holders = try await holds.store.holders(
                showtimeID: try row.decode(Int.self, column: "showtime_id"), seatIDs: try row.decode([Int].self, column: "seats")
            )
            return holders.values.contains { $0 != holdID }
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
                let accepted = try await provider.requestRefund(
                    providerPaymentID: refund.providerPaymentID, amountMinor: refund.amountMinor, currency: refund.currency
                )
                try await postgres.query("""
                    UPDATE refunds SET requested_at = now(), updated_at = now(),
                        status = CASE WHEN \(accepted) THEN 'succeeded' ELSE status END
                    WHERE id = \(refund.refundID)
                    """)
            } catch {
                // Recorded as requested; it stays visible to staff until the provider confirms.
                logger.warning("refund request failed", metadata: ["refund": "\(refund.refundID)", "error": "\(error)"])
            }
        }
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
