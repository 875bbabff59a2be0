import Foundation
import PostgresClient

/// The PostgreSQL statements of a payment callback, in one place; the rules that decide
/// between them are `Settlement`. A callback's transaction is four statements whatever the
/// outcome: `record` (the event, and what it is about, unlocked), `lock`, `write`, commit.
struct PaymentLedger: Sendable {
    /// The provider's name, as payments and events record it.
    let provider: String

    /// The payment an event is about, its booking and seats, as read before any lock.
    struct Subject: Sendable {
        var paymentRowID: UUID
        var bookingID: UUID
        var booking: BookingStatus
        var showtimeID: Int
        var showtime: ShowtimeStatus
        var holdID: String
        /// The booking's seats in seat order, and each one's version as read at checkout.
        var seatIDs: [Int]
        var expectedVersions: [Int]
    }

    enum Recorded: Sendable {
        /// This event id was recorded before (a replay): nothing else happens.
        case replay
        /// No payment of ours has this id.
        case unknownPayment
        case new(Subject)
    }

    /// Records the event (a replay inserts nothing; a concurrent one waits for the first and
    /// then inserts nothing) and reads what it is about, without locking it.
    func record(_ event: CheckoutService.PaymentEvent, in tx: PostgresConnection) async throws -> Recorded {
        let row = try await tx.query("""
            WITH event AS (
                INSERT INTO payment_events (provider, event_id, status, amount_minor, currency, outcome)
                VALUES (\(provider), \(event.eventID), \(event.status), \(event.amount), \(event.currency), 'processing')
                ON CONFLICT (provider, event_id) DO NOTHING
                RETURNING event_id
            )
            SELECT (SELECT count(*) FROM event) AS recorded,
                   p.id AS payment_id, b.id AS booking_id, b.status AS booking_status, b.showtime_id, b.hold_id,
                   s.status AS showtime_status,
                   (SELECT array_agg(seat_id ORDER BY seat_id) FROM booking_seats WHERE booking_id = b.id) AS seat_ids,
                   (SELECT array_agg(expected_version ORDER BY seat_id) FROM booking_seats WHERE booking_id = b.id) AS versions
            FROM (SELECT 1) AS one
            LEFT JOIN (payments p JOIN bookings b ON b.id = p.booking_id JOIN showtimes s ON s.id = b.showtime_id)
                ON p.provider = \(provider) AND p.provider_payment_id = \(event.paymentID)
            """).first!
        guard try row.decode(Int.self, column: "recorded") == 1 else { return .replay }
        guard let paymentRowID = try row.decode(UUID?.self, column: "payment_id") else { return .unknownPayment }
        return .new(Subject(
            paymentRowID: paymentRowID,
            bookingID: try row.decode(UUID.self, column: "booking_id"),
            booking: try row.decode(BookingStatus.self, column: "booking_status"),
            showtimeID: try row.decode(Int.self, column: "showtime_id"),
            showtime: try row.decode(ShowtimeStatus.self, column: "showtime_status"),
            holdID: try row.decode(String.self, column: "hold_id"),
            seatIDs: try row.decode([Int]?.self, column: "seat_ids") ?? [],
            expectedVersions: try row.decode([Int]?.self, column: "versions") ?? []
        ))
    }

    /// Records that the event names no payment of ours.
    func recordUnknown(_ event: CheckoutService.PaymentEvent, in tx: PostgresConnection) async throws {
        try await tx.query("""
            UPDATE payment_events SET outcome = \(CallbackOutcome.unknownPayment.rawValue)
            WHERE provider = \(provider) AND event_id = \(event.eventID)
            """)
    }

    /// Locks, in this order, the payment and its booking, then the booking's seat rows in seat
    /// order — the order every writer of these rows takes (a showtime's cancel locks the
    /// bookings, then their seats), so two callbacks, or a callback and a cancel, cannot
    /// deadlock. Reads each as locked. NO KEY: no key changes, so checkouts' foreign-key checks
    /// on these rows need not wait. The seats are named by id: joined from booking_seats, a
    /// planner that misjudged a young table's size read every seat row of the showtime.
    ///
    /// The showtime row is not locked (every checkout and callback of a premiere would queue on
    /// it): a cancel that committed before this statement shows in its status; one that held the
    /// booking while this waited shows in the booking as locked (`cancel_reason`); one that
    /// comes later finds this payment settled and refunds it itself.
    func lock(_ subject: Subject, seatsHeldByOthers: Bool, in tx: PostgresConnection) async throws -> Settlement.State {
        let row = try await tx.query("""
            WITH locked AS MATERIALIZED (
                SELECT p.status AS payment_status, p.amount_minor, p.currency, b.status AS booking_status, b.cancel_reason
                FROM payments p JOIN bookings b ON b.id = p.booking_id
                WHERE p.id = \(subject.paymentRowID)
                FOR NO KEY UPDATE OF p, b
            ), showtime AS (
                SELECT status, starts_at <= now() AS started FROM showtimes WHERE id = \(subject.showtimeID)
            ), seats AS MATERIALIZED (
                SELECT ss.seat_id, ss.status = 'sold' AS sold, ss.version = e.version AS unchanged
                FROM showtime_seats ss JOIN unnest(\(subject.seatIDs), \(subject.expectedVersions)) AS e(seat_id, version)
                    ON e.seat_id = ss.seat_id
                WHERE ss.showtime_id = \(subject.showtimeID) AND ss.seat_id = ANY(\(subject.seatIDs)) AND EXISTS (SELECT 1 FROM locked)
                ORDER BY ss.seat_id
                FOR NO KEY UPDATE OF ss
            )
            SELECT showtime.status AS showtime_status, showtime.started, locked.payment_status, locked.amount_minor,
                   locked.currency, locked.booking_status, locked.cancel_reason,
                   coalesce((SELECT array_agg(seat_id ORDER BY seat_id) FROM seats), '{}') AS seat_ids,
                   coalesce((SELECT array_agg(sold ORDER BY seat_id) FROM seats), '{}') AS sold,
                   coalesce((SELECT array_agg(unchanged ORDER BY seat_id) FROM seats), '{}') AS unchanged
            FROM showtime, locked
            """).first!
        return try Self.state(row, subject, seatsHeldByOthers: seatsHeldByOthers)
    }

    /// A locked payment as `lock` reads it (one row; the batch's reads one per subject).
    static func state(_ row: PostgresRow, _ subject: Subject, seatsHeldByOthers: Bool) throws -> Settlement.State {
        let ids = try row.decode([Int].self, column: "seat_ids")
        let sold = try row.decode([Bool].self, column: "sold")
        let unchanged = try row.decode([Bool].self, column: "unchanged")
        return Settlement.State(
            payment: try row.decode(PaymentStatus.self, column: "payment_status"),
            amount: try row.decode(Int.self, column: "amount_minor"),
            currency: try row.decode(String.self, column: "currency"),
            booking: try row.decode(BookingStatus.self, column: "booking_status"),
            showtime: try row.decode(RefundReason?.self, column: "cancel_reason") == .showtimeCancelled
                ? .cancelled : try row.decode(ShowtimeStatus.self, column: "showtime_status"),
            showtimeStarted: try row.decode(Bool.self, column: "started"),
            bookedSeatIDs: subject.seatIDs,
            seats: ids.indices.map { Settlement.Seat(id: ids[$0], isSold: sold[$0], isUnchanged: unchanged[$0]) },
            seatsHeldByOthers: seatsHeldByOthers
        )
    }

    struct Written: Sendable {
        var refundID: UUID?
        /// The outbox row of a sale, which Redis must learn.
        var outboxID: Int?
        /// The seats sold, with their rows' versions after the sale.
        var sold: ChangedSeats
    }

    /// Writes a settlement and the event's outcome in one statement.
    func write(
        _ settlement: Settlement, for event: CheckoutService.PaymentEvent, _ subject: Subject, in tx: PostgresConnection
    ) async throws -> Written {
        let row = try await tx.query("""
            WITH payment AS (
                UPDATE payments SET status = \(settlement.payment)::text, updated_at = now()
                WHERE id = \(subject.paymentRowID) AND \(settlement.payment)::text IS NOT NULL
            ), booking AS (
                UPDATE bookings SET status = \(settlement.booking)::text, updated_at = now(),
                    ticket_code = CASE WHEN \(settlement.booking)::text = 'confirmed' THEN \(TicketCode.make())::text ELSE ticket_code END,
                    confirmed_at = CASE WHEN \(settlement.booking)::text = 'confirmed' THEN now() ELSE confirmed_at END,
                    cancelled_at = CASE WHEN \(settlement.booking)::text = 'cancelled' THEN now() ELSE cancelled_at END
                WHERE id = \(subject.bookingID) AND \(settlement.booking)::text IS NOT NULL
            ), seats AS (
                UPDATE showtime_seats SET status = 'sold', version = version + 1, booking_id = \(subject.bookingID)
                WHERE showtime_id = \(subject.showtimeID) AND seat_id = ANY(\(settlement.seatsToSell)) AND status = 'available'
                RETURNING seat_id, version
            ), booked_seats AS (
                UPDATE booking_seats SET active = true
                WHERE booking_id = \(subject.bookingID) AND seat_id = ANY(\(settlement.seatsToSell))
            ), refund AS (
                INSERT INTO refunds (booking_id, payment_id, amount_minor, currency, reason)
                SELECT \(subject.bookingID), \(subject.paymentRowID), \(settlement.refund?.amount), \(settlement.refund?.currency)::text,
                       \(settlement.refund?.reason)::text
                WHERE \(settlement.refund?.reason)::text IS NOT NULL
                RETURNING id
            ), event AS (
                UPDATE payment_events SET outcome = \(settlement.outcome.rawValue)::text, payment_id = \(subject.paymentRowID)
                WHERE provider = \(provider) AND event_id = \(event.eventID)
            ), outbox AS (
                INSERT INTO availability_outbox (showtime_id)
                SELECT \(subject.showtimeID) WHERE cardinality(\(settlement.seatsToSell)::bigint[]) > 0
                RETURNING id
            )
            SELECT (SELECT id FROM refund) AS refund_id, (SELECT id FROM outbox) AS outbox_id,
                   coalesce((SELECT array_agg(seat_id ORDER BY seat_id) FROM seats), '{}') AS sold_ids,
                   coalesce((SELECT array_agg(version ORDER BY seat_id) FROM seats), '{}') AS sold_versions
            """).first!
        let sold = ChangedSeats(ids: try row.decode([Int].self, column: "sold_ids"), rowVersions: try row.decode([Int].self, column: "sold_versions"))
        // The seat rows are locked and were free: anything else is a bug, and rolls back.
        guard sold.ids.count == settlement.seatsToSell.count else {
            throw PostgresError(code: .server, message: "a confirmation sold fewer seats than it locked free", sqlState: "XX000")
        }
        return Written(
            refundID: try row.decode(UUID?.self, column: "refund_id"), outboxID: try row.decode(Int?.self, column: "outbox_id"), sold: sold
        )
    }
}
