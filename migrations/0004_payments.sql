-- Checkout: where the customer pays, as the provider said when the payment was opened.
ALTER TABLE payments ADD COLUMN pay_url text NOT NULL DEFAULT '';
-- A refund names its provider payment request once it was asked for.
ALTER TABLE refunds ADD COLUMN requested_at timestamptz;
-- The door scans tickets by code; the pending-booking closer looks for old pending ones.
CREATE INDEX bookings_showtime_confirmed ON bookings (showtime_id) WHERE status = 'confirmed';
CREATE INDEX booking_seats_booking_active ON booking_seats (booking_id) WHERE active;
