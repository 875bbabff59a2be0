import Foundation
import PostgresClient

/// The statements of a batch of callbacks (group commit): the same three as one callback's —
/// record, lock, write — each once for the whole batch, with every item's values in arrays.
/// The batch's events name distinct events and payments (`GroupCommitQueue`), so no two items
/// touch the same payment or booking; two may still share a seat (a late payment and the sale
/// that took its seat), which the caller settles in batch order.
extension PaymentLedger {
    /// Records every event (replays insert nothing) and reads what each is about, unlocked; one
    /// answer per event, in order. Inserted in event id order, as every batch does, so two
    /// batches never wait on each other's new events in opposite orders.
    func record(batch events: [CheckoutService.PaymentEvent], in tx: PostgresConnection) async throws -> [Recorded] {
        let rows = try await tx.query("""
            WITH input AS (
                SELECT * FROM unnest(\(events.map(\.eventID))::text[], \(events.map(\.paymentID))::text[],
                                     \(events.map(\.status))::text[], \(events.map(\.amount))::bigint[],
                                     \(events.map(\.currency))::text[])
                    WITH ORDINALITY AS i(event_id, payment_id, status, amount, currency, n)
            ), event AS (
                INSERT INTO payment_events (provider, event_id, status, amount_minor, currency, outcome)
                SELECT \(provider), event_id, status, amount, currency, 'processing' FROM input ORDER BY event_id
                ON CONFLICT (provider, event_id) DO NOTHING
                RETURNING event_id
            )
            SELECT i.n, i.event_id IN (SELECT event_id FROM event) AS recorded,
                   p.id AS payment_id, b.id AS booking_id, b.status AS booking_status, b.showtime_id, b.hold_id,
                   s.status AS showtime_status,
                   (SELECT array_agg(seat_id ORDER BY seat_id) FROM booking_seats WHERE booking_id = b.id) AS seat_ids,
                   (SELECT array_agg(expected_version ORDER BY seat_id) FROM booking_seats WHERE booking_id = b.id) AS versions
            FROM input i
            LEFT JOIN (payments p JOIN bookings b ON b.id = p.booking_id JOIN showtimes s ON s.id = b.showtime_id)
                ON p.provider = \(provider) AND p.provider_payment_id = i.payment_id
            ORDER BY i.n
            """)
        return try rows.map { row in
            guard try row.decode(Bool.self, column: "recorded") else { return .replay }
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
    }

    /// Locks every subject's payment and booking (in booking order, as a showtime's cancel
    /// does), then all their seat rows in (showtime, seat) order, and reads each as locked; one
    /// state per subject, in order. `heldByOthers[k]` is Redis' answer for subject k.
    func lock(batch subjects: [Subject], heldByOthers: [Bool], in tx: PostgresConnection) async throws -> [Settlement.State] {
        var seatItems: [Int] = [], seatShowtimes: [Int] = [], seatIDs: [Int] = [], seatVersions: [Int] = []
        for (index, subject) in subjects.enumerated() {
            for (seat, version) in zip(subject.seatIDs, subject.expectedVersions) {
                seatItems.append(index + 1)
                seatShowtimes.append(subject.showtimeID)
                seatIDs.append(seat)
                seatVersions.append(version)
            }
        }
        let rows = try await tx.query("""
            WITH locked AS MATERIALIZED (
                SELECT p.id AS payment_row, p.status AS payment_status, p.amount_minor, p.currency,
                       b.status AS booking_status, b.cancel_reason
                FROM payments p JOIN bookings b ON b.id = p.booking_id
                WHERE p.id = ANY(\(subjects.map(\.paymentRowID))::uuid[])
                ORDER BY b.id
                FOR NO KEY UPDATE OF p, b
            ), wanted AS (
                SELECT * FROM unnest(\(seatItems)::bigint[], \(seatShowtimes)::bigint[], \(seatIDs)::bigint[],
                                     \(seatVersions)::bigint[]) AS w(item, showtime_id, seat_id, version)
            ), rows AS MATERIALIZED (
                SELECT ss.showtime_id, ss.seat_id, ss.status = 'sold' AS sold, ss.version
                FROM showtime_seats ss
                WHERE (ss.showtime_id, ss.seat_id) IN (SELECT showtime_id, seat_id FROM wanted) AND EXISTS (SELECT 1 FROM locked)
                ORDER BY ss.showtime_id, ss.seat_id
                FOR NO KEY UPDATE OF ss
            ), seats AS (
                SELECT w.item, r.seat_id, r.sold, r.version = w.version AS unchanged
                FROM wanted w JOIN rows r ON r.showtime_id = w.showtime_id AND r.seat_id = w.seat_id
            )
            SELECT i.n, st.status AS showtime_status, st.starts_at <= now() AS started, l.payment_status, l.amount_minor,
                   l.currency, l.booking_status, l.cancel_reason,
                   coalesce((SELECT array_agg(seat_id ORDER BY seat_id) FROM seats WHERE item = i.n), '{}') AS seat_ids,
                   coalesce((SELECT array_agg(sold ORDER BY seat_id) FROM seats WHERE item = i.n), '{}') AS sold,
                   coalesce((SELECT array_agg(unchanged ORDER BY seat_id) FROM seats WHERE item = i.n), '{}') AS unchanged
            FROM unnest(\(subjects.map(\.paymentRowID))::uuid[], \(subjects.map(\.showtimeID))::bigint[])
                WITH ORDINALITY AS i(payment_row, showtime_id, n)
            JOIN locked l ON l.payment_row = i.payment_row
            JOIN showtimes st ON st.id = i.showtime_id
            ORDER BY i.n
            """)
        guard rows.count == subjects.count else {
            throw PostgresError(code: .server, message: "a batch's payments were not all found to lock", sqlState: "XX000")
        }
        return try zip(rows, zip(subjects, heldByOthers)).map { row, item in
            try Self.state(row, item.0, seatsHeldByOthers: item.1)
        }
    }

    /// One recorded event of a batch and what to write for it: a settlement of its subject,
    /// or (no subject) that it names no payment of ours.
    struct BatchWrite: Sendable {
        var event: CheckoutService.PaymentEvent
        var subject: Subject?
        var settlement: Settlement?
    }

    /// Writes every settlement and every event's outcome in one statement; one `Written` per
    /// item, in order (empty for an unknown payment).
    func write(batch items: [BatchWrite], in tx: PostgresConnection) async throws -> [Written] {
        var paymentRows: [UUID] = [], paymentStatuses: [String?] = []
        var bookingIDs: [UUID] = [], bookingStatuses: [String?] = [], ticketCodes: [String?] = []
        var saleItems: [Int] = [], saleShowtimes: [Int] = [], saleSeats: [Int] = [], saleBookings: [UUID] = []
        var refundItems: [Int] = [], refundBookings: [UUID] = [], refundPayments: [UUID] = []
        var refundAmounts: [Int] = [], refundCurrencies: [String] = [], refundReasons: [String] = []
        var outboxItems: [Int] = [], outboxShowtimes: [Int] = []
        var eventIDs: [String] = [], eventOutcomes: [String] = [], eventPayments: [UUID?] = []
        for (index, item) in items.enumerated() {
            let n = index + 1
            eventIDs.append(item.event.eventID)
            guard let subject = item.subject, let settlement = item.settlement else {
                eventOutcomes.append(CallbackOutcome.unknownPayment.rawValue)
                eventPayments.append(nil)
                continue
            }
            eventOutcomes.append(settlement.outcome.rawValue)
            eventPayments.append(subject.paymentRowID)
            paymentRows.append(subject.paymentRowID)
            paymentStatuses.append(settlement.payment?.rawValue)
            bookingIDs.append(subject.bookingID)
            bookingStatuses.append(settlement.booking?.rawValue)
            ticketCodes.append(settlement.booking == .confirmed ? TicketCode.make() : nil)
            for seat in settlement.seatsToSell {
                saleItems.append(n)
                saleShowtimes.append(subject.showtimeID)
                saleSeats.append(seat)
                saleBookings.append(subject.bookingID)
            }
            if !settlement.seatsToSell.isEmpty {
                outboxItems.append(n)
                outboxShowtimes.append(subject.showtimeID)
            }
            if let refund = settlement.refund {
                refundItems.append(n)
                refundBookings.append(subject.bookingID)
                refundPayments.append(subject.paymentRowID)
                refundAmounts.append(refund.amount)
                refundCurrencies.append(refund.currency)
                refundReasons.append(refund.reason.rawValue)
            }
        }
        let row = try await tx.query("""
            WITH payment AS (
                UPDATE payments p SET status = u.status, updated_at = now()
                FROM unnest(\(paymentRows)::uuid[], \(paymentStatuses)::text[]) AS u(id, status)
                WHERE p.id = u.id AND u.status IS NOT NULL
            ), booking AS (
                UPDATE bookings b SET status = u.status, updated_at = now(),
                    ticket_code = CASE WHEN u.status = 'confirmed' THEN u.ticket_code ELSE b.ticket_code END,
                    confirmed_at = CASE WHEN u.status = 'confirmed' THEN now() ELSE b.confirmed_at END,
                    cancelled_at = CASE WHEN u.status = 'cancelled' THEN now() ELSE b.cancelled_at END
                FROM unnest(\(bookingIDs)::uuid[], \(bookingStatuses)::text[], \(ticketCodes)::text[]) AS u(id, status, ticket_code)
                WHERE b.id = u.id AND u.status IS NOT NULL
            ), sale AS (
                SELECT * FROM unnest(\(saleItems)::bigint[], \(saleShowtimes)::bigint[], \(saleSeats)::bigint[],
                                     \(saleBookings)::uuid[]) AS u(item, showtime_id, seat_id, booking_id)
            ), seats AS (
                UPDATE showtime_seats ss SET status = 'sold', version = ss.version + 1, booking_id = sale.booking_id
                FROM sale
                WHERE ss.showtime_id = sale.showtime_id AND ss.seat_id = sale.seat_id AND ss.status = 'available'
                RETURNING sale.item, ss.seat_id, ss.version
            ), booked_seats AS (
                UPDATE booking_seats bs SET active = true
                FROM sale WHERE bs.booking_id = sale.booking_id AND bs.seat_id = sale.seat_id
            ), refund AS (
                INSERT INTO refunds (booking_id, payment_id, amount_minor, currency, reason)
                SELECT booking_id, payment_id, amount, currency, reason
                FROM unnest(\(refundBookings)::uuid[], \(refundPayments)::uuid[], \(refundAmounts)::bigint[],
                            \(refundCurrencies)::text[], \(refundReasons)::text[]) AS u(booking_id, payment_id, amount, currency, reason)
                RETURNING id, booking_id
            ), event AS (
                UPDATE payment_events e SET outcome = u.outcome, payment_id = u.payment_id
                FROM unnest(\(eventIDs)::text[], \(eventOutcomes)::text[], \(eventPayments)::uuid[]) AS u(event_id, outcome, payment_id)
                WHERE e.provider = \(provider) AND e.event_id = u.event_id
            ), outbox_ids AS MATERIALIZED (
                SELECT u.item, u.showtime_id, nextval(pg_get_serial_sequence('availability_outbox', 'id')) AS id
                FROM unnest(\(outboxItems)::bigint[], \(outboxShowtimes)::bigint[]) AS u(item, showtime_id)
            ), outbox AS (
                INSERT INTO availability_outbox (id, showtime_id) OVERRIDING SYSTEM VALUE
                SELECT id, showtime_id FROM outbox_ids
            )
            SELECT coalesce((SELECT array_agg(item ORDER BY item) FROM outbox_ids), '{}') AS outbox_items,
                   coalesce((SELECT array_agg(id ORDER BY item) FROM outbox_ids), '{}') AS outbox_ids,
                   coalesce((SELECT array_agg(booking_id ORDER BY booking_id) FROM refund), '{}') AS refund_bookings,
                   coalesce((SELECT array_agg(id ORDER BY booking_id) FROM refund), '{}') AS refund_ids,
                   coalesce((SELECT array_agg(item ORDER BY item, seat_id) FROM seats), '{}') AS sold_items,
                   coalesce((SELECT array_agg(seat_id ORDER BY item, seat_id) FROM seats), '{}') AS sold_ids,
                   coalesce((SELECT array_agg(version ORDER BY item, seat_id) FROM seats), '{}') AS sold_versions
            """).first!
        var written = items.map { _ in Written(sold: ChangedSeats()) }
        for (item, id) in zip(try row.decode([Int].self, column: "outbox_items"), try row.decode([Int].self, column: "outbox_ids")) {
            written[item - 1].outboxID = id
        }
        let refunds = Dictionary(
            zip(try row.decode([UUID].self, column: "refund_bookings"), try row.decode([UUID].self, column: "refund_ids")),
            uniquingKeysWith: { first, _ in first }
        )
        let soldItems = try row.decode([Int].self, column: "sold_items")
        let soldIDs = try row.decode([Int].self, column: "sold_ids")
        let soldVersions = try row.decode([Int].self, column: "sold_versions")
        for index in soldItems.indices {
            written[soldItems[index] - 1].sold.ids.append(soldIDs[index])
            written[soldItems[index] - 1].sold.rowVersions.append(soldVersions[index])
        }
        for (index, item) in items.enumerated() {
            if let subject = item.subject, item.settlement?.refund != nil { written[index].refundID = refunds[subject.bookingID] }
            // The seat rows are locked and were free: anything else is a bug, and rolls back.
            guard written[index].sold.ids.count == (item.settlement?.seatsToSell.count ?? 0) else {
                throw PostgresError(code: .server, message: "a confirmation sold fewer seats than it locked free", sqlState: "XX000")
            }
        }
        return written
    }
}
