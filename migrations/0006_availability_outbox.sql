-- Changes of availability that PostgreSQL committed and Redis must still learn (a sale, seats
-- freed, a showtime cancelled). A row is written in the transaction that makes the change and
-- deleted once Redis was told; should the process die in between, any instance's sweeper finds
-- the row and rebuilds that showtime's Redis state from PostgreSQL. No foreign key: the row is
-- written on the hot path, and only names what to look at.
CREATE TABLE availability_outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    showtime_id bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX availability_outbox_created ON availability_outbox (created_at);

-- Why a booking was cancelled (a refund reason: showtime_cancelled, cancelled_by_owner,
-- cancelled_by_admin). A payment that waited for the booking's row while a showtime's cancel
-- held it reads this from the row as locked, so it settles as `showtime_cancelled` without
-- having to lock the (hot) showtime row itself.
ALTER TABLE bookings ADD COLUMN cancel_reason text;
