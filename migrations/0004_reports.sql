-- Staff reports (issue 6). Each index serves one query of Sources/BoxOffice/Reports/ReportStore.swift.

-- The reservations report pages bookings by (created_at, id), with or without a period.
CREATE INDEX bookings_created ON bookings (created_at, id);

-- The showtimes report pages showtimes by (starts_at, id).
CREATE INDEX showtimes_starts_at_id ON showtimes (starts_at, id);

-- Gross per showtime: the bookings that were confirmed, read from the index alone.
CREATE INDEX bookings_confirmed_showtime ON bookings (showtime_id) INCLUDE (amount_minor) WHERE confirmed_at IS NOT NULL;
