-- One user, one hall of :seats seats, one showtime of it with every seat available, and the
-- sequence that hands each pgbench transaction its own pair of seats.
INSERT INTO users (email, password_hash, name) VALUES ('floor@bench.test', 'not-a-hash', 'Floor');
INSERT INTO movies (title, duration_minutes) VALUES ('Floor', 120);
INSERT INTO halls (name) VALUES ('Floor');
INSERT INTO seats (hall_id, row_label, row_index, number, position, x, y)
SELECT (SELECT id FROM halls), 'R' || (i / 100), i / 100, i % 100 + 1, i % 100, i % 100, i / 100
FROM generate_series(0, :seats - 1) AS i;
INSERT INTO showtimes (movie_id, hall_id, starts_at, ends_at, capacity)
VALUES ((SELECT id FROM movies), (SELECT id FROM halls), now() + interval '2 days', now() + interval '2 days 3 hours', :seats);
INSERT INTO showtime_seats (showtime_id, seat_id) SELECT (SELECT id FROM showtimes), id FROM seats;
CREATE SEQUENCE floor_bookings;
VACUUM ANALYZE;
