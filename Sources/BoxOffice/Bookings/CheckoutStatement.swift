import Foundation
import PostgresClient

/// The one statement that turns a hold into a pending booking, for one hold or (group commit)
/// for a batch of holds: read each seat's version, and write the booking, its seats (with those
/// versions) and the payment only when the showtime is still on sale at the start the holder
/// saw, every seat has its row and none is sold. The showtime rows are read FOR KEY SHARE: a
/// cancel or a move holding one is waited for, and then its outcome is what this reads.
struct CheckoutStatement: Sendable {
    let provider: String

    /// What one checkout writes.
    struct Input: Sendable {
        var bookingID: UUID
        var owner: UUID
        var showtimeID: Int
        var holdID: String
        var total: Int
        var currency: String
        var idempotencyKey: String?
        /// The start the holder saw (nil: not known, so not checked).
        var startsAt: Date?
        var seatIDs: [Int]
        var prices: [Int]
        var providerPaymentID: String
        var payURL: String
    }

    /// What PostgreSQL found for one checkout.
    struct Verdict: Sendable, Equatable {
        var showtime: ShowtimeStatus
        var started: Bool
        var moved: Bool
        /// Seats of the hold already sold.
        var sold: [Int]
        /// The booking was written.
        var booked: Bool
        /// Not written because another checkout of the hold (or key) committed first.
        var lostToAnother: Bool
    }

    /// One checkout in a statement of its own (group commit off). Nil: no such showtime.
    func write(_ input: Input, on postgres: PostgresPool) async throws -> Verdict? {
        let row: PostgresRow
        do {
            guard let found = try await postgres.query("""
                WITH showtime AS MATERIALIZED (
                    SELECT status, starts_at <= now() AS started,
                           coalesce(abs(extract(epoch FROM starts_at - \(input.startsAt)::timestamptz)) > 0.5, false) AS moved
                    FROM showtimes WHERE id = \(input.showtimeID) FOR KEY SHARE
                ), seats AS (
                    SELECT seat_id, version, status FROM showtime_seats
                    WHERE showtime_id = \(input.showtimeID) AND seat_id = ANY(\(input.seatIDs))
                ), sold AS (
                    SELECT coalesce(array_agg(seat_id ORDER BY seat_id), '{}') AS seat_ids FROM seats WHERE status = 'sold'
                ), booking AS (
                    INSERT INTO bookings (id, user_id, showtime_id, hold_id, status, amount_minor, currency, idempotency_key)
                    SELECT \(input.bookingID), \(input.owner), \(input.showtimeID), \(input.holdID), 'pending', \(input.total),
                           \(input.currency), \(input.idempotencyKey)
                    FROM sold, showtime
                    WHERE cardinality(sold.seat_ids) = 0 AND (SELECT count(*) FROM seats) = \(input.seatIDs.count)
                      AND showtime.status = 'scheduled' AND NOT showtime.started AND NOT showtime.moved
                    RETURNING id
                ), booked_seats AS (
                    INSERT INTO booking_seats (booking_id, showtime_id, seat_id, price_minor, expected_version)
                    SELECT booking.id, \(input.showtimeID), s.seat, s.price, seats.version
                    FROM booking, unnest(\(input.seatIDs), \(input.prices)) AS s(seat, price)
                    JOIN seats ON seats.seat_id = s.seat
                ), payment AS (
                    INSERT INTO payments (booking_id, provider, provider_payment_id, amount_minor, currency, pay_url)
                    SELECT booking.id, \(provider), \(input.providerPaymentID), \(input.total), \(input.currency), \(input.payURL)
                    FROM booking
                )
                SELECT sold.seat_ids AS sold, (SELECT count(*) FROM booking) AS booked,
                       showtime.status AS showtime_status, showtime.started, showtime.moved
                FROM sold, showtime
                """).first else { return nil }
            row = found
        } catch let error as PostgresError where error.code == .uniqueViolation {
            return Verdict(showtime: .scheduled, started: false, moved: false, sold: [], booked: false, lostToAnother: true)
        }
        return Verdict(
            showtime: try row.decode(ShowtimeStatus.self, column: "showtime_status"),
            started: try row.decode(Bool.self, column: "started"), moved: try row.decode(Bool.self, column: "moved"),
            sold: try row.decode([Int].self, column: "sold"), booked: try row.decode(Int.self, column: "booked") == 1,
            lostToAnother: false
        )
    }

    /// A batch of checkouts (group commit) in one statement; one verdict per input, in order
    /// (nil: no such showtime). The batch names distinct holds and idempotency keys; a hold
    /// whose booking another checkout committed first is `lostToAnother` without failing the
    /// others. Showtime rows are share-locked in id order, the new bookings written in id order.
    func write(batch inputs: [Input], on postgres: PostgresPool) async throws -> [Verdict?] {
        var seatItems: [Int] = [], seatIDs: [Int] = [], seatPrices: [Int] = []
        for (index, input) in inputs.enumerated() {
            for (seat, price) in zip(input.seatIDs, input.prices) {
                seatItems.append(index + 1)
                seatIDs.append(seat)
                seatPrices.append(price)
            }
        }
        let rows = try await postgres.query("""
            WITH input AS MATERIALIZED (
                SELECT * FROM unnest(\(inputs.map(\.bookingID))::uuid[], \(inputs.map(\.owner))::uuid[],
                                     \(inputs.map(\.showtimeID))::bigint[], \(inputs.map(\.holdID))::text[],
                                     \(inputs.map(\.total))::bigint[], \(inputs.map(\.currency))::text[],
                                     \(inputs.map(\.idempotencyKey))::text[], \(inputs.map(\.startsAt))::timestamptz[],
                                     \(inputs.map(\.providerPaymentID))::text[], \(inputs.map(\.payURL))::text[],
                                     \(inputs.map(\.seatIDs.count))::bigint[])
                    WITH ORDINALITY AS i(booking_id, user_id, showtime_id, hold_id, total, currency, idempotency_key,
                                         starts_at, payment_id, pay_url, seat_count, n)
            ), showtime AS MATERIALIZED (
                SELECT id, status, starts_at FROM showtimes WHERE id IN (SELECT showtime_id FROM input) ORDER BY id FOR KEY SHARE
            ), seats AS MATERIALIZED (
                SELECT w.item, ss.seat_id, ss.version, ss.status, w.price
                FROM unnest(\(seatItems)::bigint[], \(seatIDs)::bigint[], \(seatPrices)::bigint[]) AS w(item, seat_id, price)
                JOIN input i ON i.n = w.item
                JOIN showtime_seats ss ON ss.showtime_id = i.showtime_id AND ss.seat_id = w.seat_id
            ), verdict AS MATERIALIZED (
                SELECT i.*, st.status AS showtime_status, st.starts_at <= now() AS started,
                       coalesce(abs(extract(epoch FROM st.starts_at - i.starts_at)) > 0.5, false) AS moved,
                       coalesce((SELECT array_agg(seat_id ORDER BY seat_id) FROM seats WHERE item = i.n AND status = 'sold'), '{}') AS sold,
                       (SELECT count(*) FROM seats WHERE item = i.n) AS found
                FROM input i JOIN showtime st ON st.id = i.showtime_id
            ), booking AS (
                INSERT INTO bookings (id, user_id, showtime_id, hold_id, status, amount_minor, currency, idempotency_key)
                SELECT booking_id, user_id, showtime_id, hold_id, 'pending', total, currency, idempotency_key FROM verdict
                WHERE cardinality(sold) = 0 AND found = seat_count AND showtime_status = 'scheduled' AND NOT started AND NOT moved
                ORDER BY booking_id
                ON CONFLICT DO NOTHING
                RETURNING id
            ), booked_seats AS (
                INSERT INTO booking_seats (booking_id, showtime_id, seat_id, price_minor, expected_version)
                SELECT i.booking_id, i.showtime_id, s.seat_id, s.price, s.version
                FROM booking b JOIN input i ON i.booking_id = b.id JOIN seats s ON s.item = i.n
            ), payment AS (
                INSERT INTO payments (booking_id, provider, provider_payment_id, amount_minor, currency, pay_url)
                SELECT i.booking_id, \(provider), i.payment_id, i.total, i.currency, i.pay_url
                FROM booking b JOIN input i ON i.booking_id = b.id
            )
            SELECT v.n, v.sold, v.showtime_status, v.started, v.moved,
                   cardinality(v.sold) = 0 AND v.found = v.seat_count AND v.showtime_status = 'scheduled' AND NOT v.started
                       AND NOT v.moved AS writable,
                   v.booking_id IN (SELECT id FROM booking) AS booked
            FROM verdict v ORDER BY v.n
            """)
        var verdicts = [Verdict?](repeating: nil, count: inputs.count)
        for row in rows {
            let booked = try row.decode(Bool.self, column: "booked")
            let writable = try row.decode(Bool.self, column: "writable")
            verdicts[try row.decode(Int.self, column: "n") - 1] = Verdict(
                showtime: try row.decode(ShowtimeStatus.self, column: "showtime_status"),
                started: try row.decode(Bool.self, column: "started"), moved: try row.decode(Bool.self, column: "moved"),
                sold: try row.decode([Int].self, column: "sold"), booked: booked,
                lostToAnother: !booked && writable
            )
        }
        return verdicts
    }
}
