-- A year of a 10-hall cinema for the reports benchmark, generated inside PostgreSQL.
-- Run on an empty, migrated database: psql -v ON_ERROR_STOP=1 -f generate.sql
--
-- 2025 in Europe/Berlin; 10 halls of 60 to 320 seats (1,600 in all); 6 showtimes a day per
-- hall at 10:00, 12:45, 15:30, 18:15, 21:00 and 23:45 local (the last crosses midnight);
-- 120 movies, each shown for about six weeks after its release; 1 showtime in 50 cancelled.
-- Occupancy depends on the slot (evening busiest), the weekday (Friday and Saturday busier)
-- and the movie's popularity, about 27 % on average. Sold seats form bookings of 2 to 4
-- adjacent seats; 1 confirmed booking in 25 is cancelled later and refunded, every booking
-- of a cancelled showtime is cancelled and refunded, and some bookings never confirmed
-- (expired, payment_failed) and hold no seats. Deterministic: hashes, not random().
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET synchronous_commit = off;

BEGIN;

INSERT INTO users (email, password_hash, name, role)
SELECT 'user' || i || '@example.com', 'x', 'User ' || i, CASE WHEN i = 1 THEN 'admin' ELSE 'user' END
FROM generate_series(1, 20000) AS i;

INSERT INTO genres (name)
SELECT unnest(ARRAY['Drama', 'Comedy', 'Action', 'Thriller', 'Animation', 'Documentary', 'Horror', 'Science fiction']);

INSERT INTO movies (title, duration_minutes, release_year)
SELECT 'Movie ' || i, 85 + (i * 37) % 66, 2025
FROM generate_series(1, 120) AS i;

-- One or two genres a movie.
INSERT INTO movie_genres (movie_id, genre_id)
SELECT m.id, g.id FROM movies m JOIN genres g ON g.id = 1 + m.id % 8
UNION
SELECT m.id, g.id FROM movies m JOIN genres g ON g.id = 1 + (m.id * 3) % 8 WHERE m.id % 3 = 0;

INSERT INTO halls (name, cleaning_minutes)
SELECT 'Hall ' || i, 15 FROM generate_series(1, 10) AS i;

-- Rows of 20 seats (the last row shorter); the back two rows are premium.
INSERT INTO seats (hall_id, row_label, row_index, number, position, category, x, y)
SELECT h.id, chr(65 + r), r, n, n - 1,
       CASE WHEN r >= (size.seats - 1) / 20 - 1 THEN 'premium' ELSE 'standard' END,
       n - 1, r
FROM halls h
JOIN (SELECT i AS hall_no, (ARRAY[320, 240, 200, 180, 150, 150, 120, 100, 80, 60])[i] AS seats FROM generate_series(1, 10) AS i) size
  ON h.name = 'Hall ' || size.hall_no
CROSS JOIN LATERAL generate_series(0, (size.seats - 1) / 20) AS r
CROSS JOIN LATERAL generate_series(1, LEAST(20, size.seats - r * 20)) AS n;

-- Showtimes: day d (0..364), hall h, slot k; the movie is one of the 14 latest releases.
INSERT INTO showtimes (movie_id, hall_id, starts_at, ends_at, currency, status, cancelled_at)
SELECT m.id, h.id, t.starts_at,
       t.starts_at + make_interval(mins => m.duration_minutes + 15), 'EUR',
       CASE WHEN abs(hashint8(d * 60 + h.id * 6 + k)) % 50 = 0 THEN 'cancelled' ELSE 'scheduled' END,
       CASE WHEN abs(hashint8(d * 60 + h.id * 6 + k)) % 50 = 0 THEN t.starts_at - interval '2 days' END
FROM generate_series(0, 364) AS d
CROSS JOIN halls h
CROSS JOIN generate_series(0, 5) AS k
CROSS JOIN LATERAL (
  SELECT (date '2025-01-01' + d + time '10:00' + k * interval '165 minutes') AT TIME ZONE 'Europe/Berlin' AS starts_at
) t
JOIN movies m ON m.id = 1 + LEAST(119, GREATEST(0, d / 3 - (h.id * 6 + k) * 5 % 14));

INSERT INTO showtime_prices (showtime_id, category, price_minor)
SELECT s.id, c.category, c.price
FROM showtimes s CROSS JOIN (VALUES ('standard', 1100), ('premium', 1500)) AS c(category, price);

-- Occupancy per showtime, in permille: by slot (k = 0..5 from the local start), weekday, movie.
CREATE TEMP TABLE demand AS
SELECT s.id AS showtime_id, s.status, s.starts_at,
       LEAST(980, (ARRAY[110, 170, 240, 400, 380, 150])[1 + (extract(hour FROM l.t)::int * 60 + extract(minute FROM l.t)::int - 600) / 165]
         * CASE WHEN extract(isodow FROM l.t) IN (5, 6) THEN 14 ELSE 10 END / 10
         * (5 + s.movie_id * 7 % 12) / 10) AS permille
FROM showtimes s CROSS JOIN LATERAL (SELECT s.starts_at AT TIME ZONE 'Europe/Berlin' AS t) l;

-- Sold seats (before cancellations), grouped into bookings of 2 to 4 adjacent seats of a row.
CREATE TEMP TABLE sold AS
SELECT se.id AS seat_id, d.showtime_id, se.row_index,
       (se.number - 1) / (2 + (d.showtime_id + se.row_index) % 3) AS grp,
       CASE se.category WHEN 'premium' THEN 1500 ELSE 1100 END AS price
FROM demand d
JOIN showtimes s ON s.id = d.showtime_id
JOIN seats se ON se.hall_id = s.hall_id
WHERE abs(hashint8(d.showtime_id::bigint * 100003 + se.id)) % 1000 < d.permille;

CREATE TEMP TABLE groups AS
SELECT gen_random_uuid() AS booking_id, g.showtime_id, g.row_index, g.grp, g.seats, g.amount,
       d.starts_at, d.status AS showtime_status,
       1 + abs(hashint8(g.showtime_id::bigint * 7919 + g.row_index * 97 + g.grp)) % 20000 AS user_no,
       abs(hashint8(g.showtime_id::bigint * 31 + g.row_index * 7 + g.grp)) % 100 AS fate,
       -- booked up to two weeks ahead, in minutes
       (30 + abs(hashint8(g.showtime_id::bigint * 53 + g.row_index * 11 + g.grp)) % 20000)::int AS lead
FROM (SELECT showtime_id, row_index, grp, count(*) AS seats, sum(price) AS amount
      FROM sold GROUP BY showtime_id, row_index, grp) g
JOIN demand d ON d.showtime_id = g.showtime_id;

INSERT INTO bookings (id, user_id, showtime_id, hold_id, status, amount_minor, currency,
                      created_at, updated_at, confirmed_at, cancelled_at)
SELECT g.booking_id, u.id, g.showtime_id, 'hold-' || g.booking_id,
       CASE WHEN g.showtime_status = 'cancelled' THEN 'cancelled'
            WHEN g.fate < 4 THEN 'cancelled'
            ELSE 'confirmed' END,
       g.amount, 'EUR',
       g.starts_at - make_interval(mins => g.lead),
       g.starts_at - make_interval(mins => g.lead / 2),
       g.starts_at - make_interval(mins => g.lead - 1),
       CASE WHEN g.showtime_status = 'cancelled' THEN GREATEST(g.starts_at - interval '2 days', g.starts_at - make_interval(mins => g.lead / 2))
            WHEN g.fate < 4 THEN g.starts_at - make_interval(mins => g.lead / 2) END
FROM groups g JOIN users u ON u.email = 'user' || g.user_no || '@example.com';

-- Bookings that never confirmed: a few per showtime, without seats.
INSERT INTO bookings (user_id, showtime_id, hold_id, status, amount_minor, currency, created_at, updated_at)
SELECT u.id, d.showtime_id, 'lost-' || d.showtime_id || '-' || i,
       CASE WHEN i % 2 = 0 THEN 'expired' ELSE 'payment_failed' END, 2200, 'EUR',
       d.starts_at - make_interval(hours => 2 + i), d.starts_at - make_interval(hours => 2 + i)
FROM demand d
CROSS JOIN generate_series(1, 2) AS i
JOIN users u ON u.email = 'user' || (1 + (d.showtime_id * 13 + i) % 20000) || '@example.com';

-- Every seat of every showtime; the seats of confirmed bookings are sold.
INSERT INTO showtime_seats (showtime_id, seat_id, status, version, booking_id)
SELECT s.id, se.id,
       CASE WHEN b.id IS NULL THEN 'available' ELSE 'sold' END,
       CASE WHEN b.id IS NULL THEN 0 ELSE 1 END,
       b.id
FROM showtimes s
JOIN seats se ON se.hall_id = s.hall_id
LEFT JOIN sold ON sold.showtime_id = s.id AND sold.seat_id = se.id
LEFT JOIN groups g ON g.showtime_id = sold.showtime_id AND g.row_index = sold.row_index AND g.grp = sold.grp
LEFT JOIN bookings b ON b.id = g.booking_id AND b.status = 'confirmed';

INSERT INTO booking_seats (booking_id, showtime_id, seat_id, price_minor, expected_version, active)
SELECT g.booking_id, sold.showtime_id, sold.seat_id, sold.price, 0, b.status = 'confirmed'
FROM sold
JOIN groups g ON g.showtime_id = sold.showtime_id AND g.row_index = sold.row_index AND g.grp = sold.grp
JOIN bookings b ON b.id = g.booking_id;

INSERT INTO payments (booking_id, provider, provider_payment_id, amount_minor, currency, status, created_at)
SELECT b.id, 'bench', 'pay-' || b.id, b.amount_minor, b.currency, 'succeeded', b.confirmed_at
FROM bookings b WHERE b.confirmed_at IS NOT NULL;

-- Cancelled bookings are refunded in full; 1 in 10 of them also has an earlier failed attempt.
INSERT INTO refunds (booking_id, payment_id, amount_minor, currency, reason, status, created_at)
SELECT b.id, p.id, b.amount_minor, b.currency, 'cancelled', 'succeeded', b.cancelled_at
FROM bookings b JOIN payments p ON p.booking_id = b.id
WHERE b.status = 'cancelled';
INSERT INTO refunds (booking_id, payment_id, amount_minor, currency, reason, status, created_at)
SELECT b.id, p.id, b.amount_minor, b.currency, 'cancelled', 'failed', b.cancelled_at
FROM bookings b JOIN payments p ON p.booking_id = b.id
WHERE b.status = 'cancelled' AND abs(hashtext(b.id::text)) % 10 = 0;

COMMIT;

VACUUM ANALYZE;

SELECT (SELECT count(*) FROM showtimes) AS showtimes,
       (SELECT count(*) FROM showtime_seats) AS showtime_seats,
       (SELECT count(*) FROM showtime_seats WHERE status = 'sold') AS sold_seats,
       (SELECT count(*) FROM bookings) AS bookings,
       (SELECT count(*) FROM refunds) AS refunds,
       (SELECT round(100.0 * count(*) FILTER (WHERE status = 'sold') / count(*), 1) FROM showtime_seats) AS occupancy_pct;
