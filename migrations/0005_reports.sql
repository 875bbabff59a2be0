-- Staff reports (issue 6). Each index serves a query of Sources/BoxOffice/Reports/ReportStore.swift;
-- Benchmarks/README.md has their timings over a generated year.

-- A showtime's capacity is the number of its showtime_seats rows, which scheduling inserts
-- once. Counting them for a year of showtimes means reading millions of rows, so the count
-- is kept on the showtime by statement triggers (one UPDATE per INSERT or DELETE statement,
-- none on the hot path: selling a seat updates rows, it never inserts or deletes them).
ALTER TABLE showtimes ADD COLUMN capacity integer NOT NULL DEFAULT 0;
UPDATE showtimes s SET capacity = c.n
FROM (SELECT showtime_id, count(*) AS n FROM showtime_seats GROUP BY showtime_id) c
WHERE c.showtime_id = s.id;

CREATE FUNCTION showtimes_count_seats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE showtimes s SET capacity = s.capacity + d.n
        FROM (SELECT showtime_id, count(*) AS n FROM changed_rows GROUP BY showtime_id) d
        WHERE s.id = d.showtime_id;
    ELSE
        UPDATE showtimes s SET capacity = s.capacity - d.n
        FROM (SELECT showtime_id, count(*) AS n FROM changed_rows GROUP BY showtime_id) d
        WHERE s.id = d.showtime_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER showtime_seats_count_added AFTER INSERT ON showtime_seats
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION showtimes_count_seats();
CREATE TRIGGER showtime_seats_count_removed AFTER DELETE ON showtime_seats
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION showtimes_count_seats();

-- The showtimes report pages showtimes by (starts_at, id).
CREATE INDEX showtimes_starts_at_id ON showtimes (starts_at, id);

-- Gross per showtime, and the bookings whose refunds count, from the index alone.
CREATE INDEX bookings_confirmed_showtime ON bookings (showtime_id) INCLUDE (amount_minor, id)
    WHERE confirmed_at IS NOT NULL;

-- Refunds that count (a failed refund returned nothing), from the index alone.
CREATE INDEX refunds_counted ON refunds (booking_id) INCLUDE (amount_minor) WHERE status <> 'failed';

-- The reservations report pages bookings by (created_at, id), with or without a period.
CREATE INDEX bookings_created ON bookings (created_at, id);

-- Sold seats per showtime come from the existing partial index showtime_seats_sold.
