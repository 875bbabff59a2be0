-- On-sales: when a showtime's seats go on sale (NULL: on sale since it was scheduled), and
-- whether people wait in a waiting room before they may hold seats.
ALTER TABLE showtimes
    ADD COLUMN sale_opens_at timestamptz,
    ADD COLUMN waiting_room text NOT NULL DEFAULT 'off' CHECK (waiting_room IN ('off', 'always', 'automatic')),
    ADD CONSTRAINT showtimes_sale_opens_before_start CHECK (sale_opens_at < starts_at);
