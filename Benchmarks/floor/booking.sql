-- pgbench: the least PostgreSQL must write for one sold booking of two seats, in one
-- transaction: the booking and its two seats, the two seat rows sold, the payment and its
-- event. No reads, no checks beyond the schema's own (keys, foreign keys, constraints).
SELECT nextval('floor_bookings') AS k \gset
BEGIN;
INSERT INTO bookings (id, user_id, showtime_id, hold_id, status, amount_minor, currency, ticket_code, confirmed_at)
VALUES (md5('b' || :k)::uuid, :user_id::uuid, :showtime_id, 'floor-' || :k, 'confirmed', 2400, 'EUR', 'floor-' || :k, now());
INSERT INTO booking_seats (booking_id, showtime_id, seat_id, price_minor, expected_version, active)
VALUES (md5('b' || :k)::uuid, :showtime_id, :first_seat + 2 * (:k - 1), 1200, 0, true),
       (md5('b' || :k)::uuid, :showtime_id, :first_seat + 2 * (:k - 1) + 1, 1200, 0, true);
UPDATE showtime_seats SET status = 'sold', version = version + 1, booking_id = md5('b' || :k)::uuid
WHERE showtime_id = :showtime_id AND seat_id IN (:first_seat + 2 * (:k - 1), :first_seat + 2 * (:k - 1) + 1);
INSERT INTO payments (id, booking_id, provider, provider_payment_id, amount_minor, currency, status)
VALUES (md5('p' || :k)::uuid, md5('b' || :k)::uuid, 'floor', 'floor-' || :k, 2400, 'EUR', 'succeeded');
INSERT INTO payment_events (provider, event_id, payment_id, status, amount_minor, currency, outcome)
VALUES ('floor', 'floor-' || :k, md5('p' || :k)::uuid, 'succeeded', 2400, 'EUR', 'confirmed');
COMMIT;
