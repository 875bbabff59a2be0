public import PostgresClient

/// The rules that must hold whatever happened: checked by the tests and the load harness.
public enum BookingInvariants {
    /// Each broken rule, with an example; empty when all hold.
    public static func violations(in postgres: PostgresPool) async throws -> [String] {
        let checks: [(String, PostgresQuery)] = [
            ("a seat is in two active bookings", """
                SELECT showtime_id || ':' || seat_id AS example FROM booking_seats WHERE active
                GROUP BY showtime_id, seat_id HAVING count(*) > 1 LIMIT 1
                """),
            ("a confirmed booking's seat is not sold to it", """
                SELECT bs.booking_id || ':' || bs.seat_id AS example
                FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id
                LEFT JOIN showtime_seats ss ON ss.showtime_id = bs.showtime_id AND ss.seat_id = bs.seat_id
                WHERE b.status = 'confirmed' AND (ss.status IS DISTINCT FROM 'sold' OR ss.booking_id IS DISTINCT FROM b.id OR NOT bs.active)
                LIMIT 1
                """),
            ("a sold seat points to a booking that is not confirmed", """
                SELECT ss.showtime_id || ':' || ss.seat_id AS example
                FROM showtime_seats ss LEFT JOIN bookings b ON b.id = ss.booking_id
                WHERE ss.status = 'sold' AND b.status IS DISTINCT FROM 'confirmed'
                LIMIT 1
                """),
            ("a succeeded payment has neither a confirmed booking nor a refund", """
                SELECT p.id::text AS example FROM payments p JOIN bookings b ON b.id = p.booking_id
                WHERE p.status = 'succeeded' AND b.status <> 'confirmed'
                  AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.booking_id = b.id)
                LIMIT 1
                """),
            ("a cancelled showtime has a confirmed booking", """
                SELECT b.id::text AS example FROM bookings b JOIN showtimes s ON s.id = b.showtime_id
                WHERE s.status = 'cancelled' AND b.status = 'confirmed'
                LIMIT 1
                """),
            ("a cancelled showtime has a sold seat", """
                SELECT ss.showtime_id || ':' || ss.seat_id AS example FROM showtime_seats ss JOIN showtimes s ON s.id = ss.showtime_id
                WHERE s.status = 'cancelled' AND ss.status = 'sold'
                LIMIT 1
                """),
            ("a succeeded payment for a cancelled showtime is not refunded in full", """
                SELECT p.id::text AS example FROM payments p JOIN bookings b ON b.id = p.booking_id
                JOIN showtimes s ON s.id = b.showtime_id
                WHERE s.status = 'cancelled' AND p.status = 'succeeded'
                  AND coalesce((SELECT sum(r.amount_minor) FROM refunds r WHERE r.payment_id = p.id AND r.status <> 'failed'), 0)
                      < coalesce((SELECT max(e.amount_minor) FROM payment_events e WHERE e.payment_id = p.id AND e.status = 'succeeded'),
                                 p.amount_minor)
                LIMIT 1
                """),
        ]
        var broken: [String] = []
        for (rule, query) in checks {
            if let row = try await postgres.query(query).first {
                broken.append("\(rule) (e.g. \(try row.decode(String.self, column: "example")))")
            }
        }
        return broken
    }
}
