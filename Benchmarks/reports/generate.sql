-- A year of a 10-cinema chain for the reports benchmark, generated inside PostgreSQL.
-- Run on an empty, migrated database: psql -v ON_ERROR_STOP=1 -f generate.sql
--
-- 2025 in 10 cinemas, 7 cities, 3 time zones (Europe/Berlin, Europe/Lisbon, America/New_York);
-- the 3 in New York and Boston sell in USD, the others in EUR. 15 halls of 60 to 300 seats
-- (2,400 in all, 1 to 3 a cinema); 4 showtimes a day per hall at 14:00, 16:45, 19:30 and 22:15
-- in its cinema's local time (the last crosses midnight). The same volume as the single
-- 10-hall cinema of 6 showtimes a day before: 21,900 showtimes, 3.5 M seat rows.
-- 120 movies, each shown for about six weeks after its release; 1 showtime in 50 cancelled.
-- Occupancy depends on the local slot (19:30 busiest), the local weekday (Friday and Saturday
-- busier) and the movie's popularity, about 27 % on average. Sold seats form bookings of 2 to 4
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

-- The chain. The migrations' default cinema (the first) becomes Berlin Mitte.
CREATE TEMP TABLE chain (cinema_no int, name text, city text, time_zone text, currency text, hall_seats int[]);
INSERT INTO chain VALUES
  (1, 'Berlin Mitte', 'Berlin', 'Europe/Berlin', 'EUR', ARRAY[300, 220, 120]),
  (2, 'Berlin Kreuzberg', 'Berlin', 'Europe/Berlin', 'EUR', ARRAY[180, 100]),
  (3, 'Hamburg Altona', 'Hamburg', 'Europe/Berlin', 'EUR', ARRAY[200]),
  (4, 'Munich Sendlinger Tor', 'Munich', 'Europe/Berlin', 'EUR', ARRAY[160]),
  (5, 'Lisboa Baixa', 'Lisbon', 'Europe/Lisbon', 'EUR', ARRAY[220, 100]),
  (6, 'Lisboa Alvalade', 'Lisbon', 'Europe/Lisbon', 'EUR', ARRAY[120]),
  (7, 'Porto Batalha', 'Porto', 'Europe/Lisbon', 'EUR', ARRAY[140]),
  (8, 'New York Union Square', 'New York', 'America/New_York', 'USD', ARRAY[260, 120]),
  (9, 'New York Williamsburg', 'New York', 'America/New_York', 'USD', ARRAY[60]),
  (10, 'Boston Back Bay', 'Boston', 'America/New_York', 'USD', ARRAY[100]);

UPDATE cinemas SET name = c.name, city = c.city, time_zone = c.time_zone, currency = c.currency, follows_settings = false
FROM chain c WHERE c.cinema_no = 1 AND cinemas.id = (SELECT min(id) FROM cinemas);
INSERT INTO cinemas (name, city, address, time_zone, currency)
SELECT name, city, 'Street ' || cinema_no, time_zone, currency FROM chain WHERE cinema_no > 1 ORDER BY cinema_no;

-- Halls numbered 1..15 across the chain, in cinema order.
CREATE TEMP TABLE chain_halls AS
SELECT row_number() OVER (ORDER BY ch.cinema_no, h.n)::int AS hall_no, ch.cinema_no, ch.name AS cinema_name, h.n, h.seats
FROM chain ch CROSS JOIN LATERAL unnest(ch.hall_seats) WITH ORDINALITY AS h(seats, n);

INSERT INTO halls (name, cleaning_minutes, cinema_id)
SELECT ch.cinema_name || ' ' || ch.n, 15, c.id
FROM chain_halls ch JOIN cinemas c ON c.name = ch.cinema_name
ORDER BY ch.hall_no;

-- Each hall with its number, seats, cinema, time zone and currency.
CREATE TEMP TABLE hall_info AS
SELECT h.id, ch.hall_no, ch.seats, c.id AS cinema_id, c.time_zone, c.currency
FROM halls h JOIN chain_halls ch ON h.name = ch.cinema_name || ' ' || ch.n
JOIN cinemas c ON c.id = h.cinema_id;

-- Ticket prices per currency.
CREATE TEMP TABLE ticket_prices (currency text, category text, price int);
INSERT INTO ticket_prices VALUES ('EUR', 'standard', 1100), ('EUR', 'premium', 1500), ('USD', 'standard', 1400), ('USD', 'premium', 1900);

-- Rows of 20 seats (the last row shorter); the back two rows are premium.
INSERT INTO seats (hall_id, row_label, row_index, number, position, category, x, y)
SELECT h.id, chr(65 + r), r, n, n - 1,
       CASE WHEN r >= (h.seats - 1) / 20 - 1 THEN 'premium' ELSE 'standard' END,
       n - 1, r
FROM hall_info h
CROSS JOIN LATERAL generate_series(0, (h.seats - 1) / 20) AS r
CROSS JOIN LATERAL generate_series(1, LEAST(20, h.seats - r * 20)) AS n;

-- Showtimes: local day d (0..364), hall h, slot k; the movie is one of the 14 latest releases.
INSERT INTO showtimes (movie_id, hall_id, starts_at, ends_at, currency, status, cancelled_at)
SELECT m.id, h.id, t.starts_at,
       t.starts_at + make_interval(mins => m.duration_minutes + 15), h.currency,
       CASE WHEN abs(hashint8(d * 60 + h.hall_no * 4 + k)) % 50 = 0 THEN 'cancelled' ELSE 'scheduled' END,
       CASE WHEN abs(hashint8(d * 60 + h.hall_no * 4 + k)) % 50 = 0 THEN t.starts_at - interval '2 days' END
FROM generate_series(0, 364) AS d
CROSS JOIN hall_info h
CROSS JOIN generate_series(0, 3) AS k
CROSS JOIN LATERAL (
  SELECT (date '2025-01-01' + d + time '14:00' + k * interval '165 minutes') AT TIME ZONE h.time_zone AS starts_at
) t
JOIN movies m ON m.id = 1 + LEAST(119, GREATEST(0, d / 3 - (h.hall_no * 4 + k) * 5 % 14));

INSERT INTO showtime_prices (showtime_id, category, price_minor)
SELECT s.id, p.category, p.price
FROM showtimes s JOIN ticket_prices p ON p.currency = s.currency;

-- Occupancy per showtime, in permille: by slot (k = 0..3 from the local start), weekday, movie.
CREATE TEMP TABLE demand AS
SELECT s.id AS showtime_id, s.status, s.starts_at, s.currency,
       LEAST(980, (ARRAY[130, 200, 360, 260])[1 + (extract(hour FROM l.t)::int * 60 + extract(minute FROM l.t)::int - 840) / 165]
         * CASE WHEN extract(isodow FROM l.t) IN (5, 6) THEN 14 ELSE 10 END / 10
         * (5 + s.movie_id * 7 % 12) / 10) AS permille
FROM showtimes s JOIN hall_info h ON h.id = s.hall_id
CROSS JOIN LATERAL (SELECT s.starts_at AT TIME ZONE h.time_zone AS t) l;

-- Sold seats (before cancellations), grouped into bookings of 2 to 4 adjacent seats of a row.
CREATE TEMP TABLE sold AS
SELECT se.id AS seat_id, d.showtime_id, se.row_index,
       (se.number - 1) / (2 + (d.showtime_id + se.row_index) % 3) AS grp,
       p.price
FROM demand d
JOIN showtimes s ON s.id = d.showtime_id
JOIN seats se ON se.hall_id = s.hall_id
JOIN ticket_prices p ON p.currency = d.currency AND p.category = se.category
WHERE abs(hashint8(d.showtime_id::bigint * 100003 + se.id)) % 1000 < d.permille;

CREATE TEMP TABLE groups AS
SELECT gen_random_uuid() AS booking_id, g.showtime_id, g.row_index, g.grp, g.seats, g.amount,
       d.starts_at, d.status AS showtime_status, d.currency,
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
       g.amount, g.currency,
       g.starts_at - make_interval(mins => g.lead),
       g.starts_at - make_interval(mins => g.lead / 2),
       g.starts_at - make_interval(mins => g.lead - 1),
       CASE WHEN g.showtime_status = 'cancelled' THEN GREATEST(g.starts_at - interval '2 days', g.starts_at - make_interval(mins => g.lead / 2))
            WHEN g.fate < 4 THEN g.starts_at - make_interval(mins => g.lead / 2) END
FROM groups g JOIN users u ON u.email = 'user' || g.user_no || '@example.com';

-- Bookings that never confirmed: a few per showtime, without seats.
INSERT INTO bookings (user_id, showtime_id, hold_id, status, amount_minor, currency, created_at, updated_at)
SELECT u.id, d.showtime_id, 'lost-' || d.showtime_id || '-' || i,
       CASE WHEN i % 2 = 0 THEN 'expired' ELSE 'payment_failed' END, 2 * p.price, d.currency,
       d.starts_at - make_interval(hours => 2 + i), d.starts_at - make_interval(hours => 2 + i)
FROM demand d
JOIN ticket_prices p ON p.currency = d.currency AND p.category = 'standard'
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

SELECT (SELECT count(*) FROM cinemas) AS cinemas,
       (SELECT count(DISTINCT city) FROM cinemas) AS cities,
       (SELECT count(DISTINCT time_zone) FROM cinemas) AS time_zones,
       (SELECT count(*) FROM halls) AS halls,
       (SELECT count(*) FROM seats) AS seats,
       (SELECT count(*) FROM showtimes) AS showtimes,
       (SELECT count(*) FROM showtime_seats) AS showtime_seats,
       (SELECT count(*) FROM showtime_seats WHERE status = 'sold') AS sold_seats,
       (SELECT count(*) FROM bookings) AS bookings,
       (SELECT count(*) FROM refunds) AS refunds,
       (SELECT round(100.0 * count(*) FILTER (WHERE status = 'sold') / count(*), 1) FROM showtime_seats) AS occupancy_pct;
