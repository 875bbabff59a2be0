import Crypto
public import Foundation
public import Logging
public import PostgresClient
import RedisClient

/// A pending booking and where to pay for it.
public struct Checkout: Sendable, Equatable {
    public var bookingID: UUID
    public var status: BookingStatus
    public var amountMinor: Int
    public var currency: String
    public var paymentID: String
    public var payURL: String
}

/// Checkout and payment confirmation: PostgreSQL is the truth, Redis is told after commit.
/// The callbacks' rules are `Settlement`, their statements `PaymentLedger`.
public struct CheckoutService: Sendable {
    let postgres: PostgresPool
    let holds: HoldService
    let provider: any PaymentProvider
    let signature: PaymentSignature
    let settings: BoxOfficeSettings
    let logger: Logger
    let ledger: PaymentLedger
    public let refunds: RefundService
    /// A fault-injection point for tests: runs after a sale committed, before Redis is told.
    let afterSaleCommit: (@Sendable () async -> Void)?
    let statement: CheckoutStatement
    /// Batch payment callbacks and checkouts (group commit); nil when `settings.groupCommit` is off.
    private(set) var committer: GroupCommitter<CallbackRequest, (CallbackOutcome, Effects)>?
    private(set) var checkouts: GroupCommitter<CheckoutStatement.Input, CheckoutStatement.Verdict?>?

    public init(
        postgres: PostgresPool, holds: HoldService, provider: any PaymentProvider, settings: BoxOfficeSettings, logger: Logger
    ) {
        self.postgres = postgres
        self.holds = holds
        self.provider = provider
        self.signature = PaymentSignature(secret: settings.paymentSecret, tolerance: settings.callbackTolerance.timeInterval)
        self.settings = settings
        self.logger = logger
        self.ledger = PaymentLedger(provider: provider.name)
        self.refunds = RefundService(postgres: postgres, provider: provider, logger: logger)
        self.afterSaleCommit = settings.afterSaleCommit
        self.statement = CheckoutStatement(provider: provider.name)
        if settings.groupCommit {
            let statement = self.statement
            self.checkouts = GroupCommitter(
                maximumBatch: settings.groupCommitMaxBatch, maximumInFlight: settings.groupCommitInFlight,
                // One hold (or one person's key) is never checked out twice in one batch.
                keys: { ["hold:" + $0.holdID] + ($0.idempotencyKey.map { ["key:\($0)"] } ?? []) },
                write: { inputs in
                    do {
                        // A batch of one is today's statement: cheaper to plan and run than the arrays.
                        if inputs.count == 1 { return [.success(try await statement.write(inputs[0], on: postgres))] }
                        return try await statement.write(batch: inputs, on: postgres).map { .success($0) }
                    } catch {
                        return inputs.map { _ in .failure(error) }
                    }
                }
            )
            let service = self
            self.committer = GroupCommitter(
                maximumBatch: settings.groupCommitMaxBatch, maximumInFlight: settings.groupCommitInFlight,
                // Two events of one payment (or one event twice) go in successive batches.
                keys: { ["event:" + $0.event.eventID, "payment:" + $0.event.paymentID] },
                write: { await service.settle(batch: $0) }
            )
        }
    }

    // MARK: - Checkout

    /// Turns the owner's live hold into a pending booking with an open payment. The same hold
    /// (or the same `Idempotency-Key`) checked out again answers the same booking.
    public func checkout(holdID: String, owner: UUID, idempotencyKey: String?) async throws -> Checkout {
        if let idempotencyKey, !(1...200).contains(idempotencyKey.utf8.count) || !idempotencyKey.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) {
            throw BoxOfficeError.validation(field: "Idempotency-Key", "must be 1 to 200 visible ASCII characters.")
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
            // A cancel releases its showtime's holds: say why this one is gone.
            try await checkShowtimeOnSale(ofHold: holdID)
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
        // The showtime as this instance last read it: a cancelled or started one opens no
        // payment. The statement below decides on PostgreSQL's current row.
        try HoldService.checkOnSale(try await holds.layouts.layout(for: hold.showtimeID))
        let bookingID = Self.bookingID(forHold: holdID)
        let opened = try await provider.openPayment(bookingID: bookingID, amountMinor: hold.total, currency: hold.currency)
        let input = CheckoutStatement.Input(
            bookingID: bookingID, owner: owner, showtimeID: hold.showtimeID, holdID: holdID, total: hold.total,
            currency: hold.currency, idempotencyKey: idempotencyKey, startsAt: hold.startsAt, seatIDs: hold.seats.map(\.id),
            prices: hold.seats.map(\.price), providerPaymentID: opened.providerPaymentID, payURL: opened.payURL
        )
        let written = if let checkouts { try await checkouts.submit(input) } else { try await statement.write(input, on: postgres) }
        guard let verdict = written else { throw BoxOfficeError.notFound("The showtime") }
        if verdict.lostToAnother {
            // A concurrent checkout of the same hold (or key) committed first: its booking is the answer.
            if let existing = try await existingCheckout(owner: owner, holdID: holdID, idempotencyKey: idempotencyKey) {
                return existing
            }
            throw BoxOfficeError(.conflict, code: "checkout_in_progress", message: "Another checkout of this hold is under way; try again.")
        }
        if verdict.showtime == .cancelled { throw HoldService.showtimeCancelled }
        if verdict.started { throw HoldService.showtimeStarted }
        if verdict.moved {
            throw BoxOfficeError(
                .conflict, code: "showtime_moved",
                message: "This showtime moved to another time after these seats were held; hold seats again at the new time."
            )
        }
        if !verdict.sold.isEmpty {
            // PostgreSQL knows these seats are sold: Redis must not offer them any longer.
            await holds.repairSold(showtimeID: hold.showtimeID, seatIDs: verdict.sold)
            throw BoxOfficeError(
                .conflict, code: "seats_sold", message: "Some of these seats were sold meanwhile; hold others.",
                details: ["seat_ids": .ints(verdict.sold)]
            )
        }
        guard verdict.booked else {
            // A held seat with no row for this showtime: nothing was written.
            throw BoxOfficeError(.conflict, code: "seats_changed", message: "This showtime's seats changed; hold your seats again.")
        }
        // Cover paying: one extension beyond the person's own, which then cannot extend further.
        do {
            _ = try await holds.extendForPayment(hold, bookingID: bookingID)
        } catch {
            // The booking stands; a payment that comes after the hold lapsed follows the late-payment rule.
            logger.warning("could not extend a hold for payment", metadata: ["hold": "\(holdID)", "error": "\(error)"])
        }
        return Checkout(
            bookingID: bookingID, status: .pending, amountMinor: hold.total, currency: hold.currency,
            paymentID: opened.providerPaymentID, payURL: opened.payURL
        )
    }

    /// 410 when the showtime a hold id names is cancelled or has started, by PostgreSQL's row.
    private func checkShowtimeOnSale(ofHold holdID: String) async throws {
        guard let showtimeID = HoldService.showtimeID(ofHold: holdID), let row = try await postgres.query("""
            SELECT status, starts_at <= now() AS started FROM showtimes WHERE id = \(showtimeID)
            """).first else { return }
        if try row.decode(ShowtimeStatus.self, column: "status") == .cancelled { throw HoldService.showtimeCancelled }
        if try row.decode(Bool.self, column: "started") { throw HoldService.showtimeStarted }
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
                status: try row.decode(BookingStatus.self, column: "status"),
                amountMinor: try row.decode(Int.self, column: "amount_minor"),
                currency: try row.decode(String.self, column: "currency"),
                paymentID: try row.decode(String.self, column: "provider_payment_id"),
                payURL: try row.decode(String.self, column: "pay_url")
            )
        }
        return found
    }
}
