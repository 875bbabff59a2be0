-- The generated chain, one line a cinema (for the results file of scripts/bench-reports):
-- name | city | time zone | currency | halls | seats | showtimes | sold seats | bookings.
SELECT c.name, c.city, c.time_zone, c.currency,
       (SELECT count(*) FROM halls h WHERE h.cinema_id = c.id) AS halls,
       (SELECT count(*) FROM seats se JOIN halls h ON h.id = se.hall_id WHERE h.cinema_id = c.id) AS seats,
       (SELECT count(*) FROM showtimes s JOIN halls h ON h.id = s.hall_id WHERE h.cinema_id = c.id) AS showtimes,
       (SELECT count(*) FROM showtime_seats ss JOIN showtimes s ON s.id = ss.showtime_id JOIN halls h ON h.id = s.hall_id
        WHERE h.cinema_id = c.id AND ss.status = 'sold') AS sold_seats,
       (SELECT count(*) FROM bookings b JOIN showtimes s ON s.id = b.showtime_id JOIN halls h ON h.id = s.hall_id
        WHERE h.cinema_id = c.id) AS bookings
FROM cinemas c
ORDER BY c.id;
