-- Scheduling: a hall's layout can change after it has had showtimes. Their showtime_seats
-- (and bookings) still point at the old seats, which therefore cannot be deleted: they are
-- retired instead, and only live seats must be unique within a hall.
ALTER TABLE seats ADD COLUMN retired_at timestamptz;
ALTER TABLE seats DROP CONSTRAINT seats_hall_id_row_label_number_key;
ALTER TABLE seats DROP CONSTRAINT seats_hall_id_row_index_position_key;
CREATE UNIQUE INDEX seats_live_label_number ON seats (hall_id, row_label, number) WHERE retired_at IS NULL;
CREATE UNIQUE INDEX seats_live_position ON seats (hall_id, row_index, position) WHERE retired_at IS NULL;

-- The public programme filters by hall and day.
CREATE INDEX showtimes_hall ON showtimes (hall_id, starts_at);
