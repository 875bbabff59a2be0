-- Notifications that are never lost. Every event worth telling someone is written by a
-- trigger in the same transaction as the change that causes it, whichever code path made the
-- change (one callback, a group-committed batch, a cancellation), with one delivery row for
-- each registered webhook that wants it. Delivery workers in every instance claim due rows with
-- FOR UPDATE SKIP LOCKED; a process killed between commit and delivery loses nothing.

CREATE TABLE webhooks (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    url        text NOT NULL,
    events     text[] NOT NULL,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);

CREATE TABLE notification_events (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    type       text NOT NULL,
    payload    jsonb NOT NULL,
    -- Events told once (a showtime nearly sold out) carry a key that may occur once.
    once_key   text UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_events_created ON notification_events (created_at);

CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid NOT NULL REFERENCES notification_events (id),
    webhook_id      uuid NOT NULL REFERENCES webhooks (id),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    last_status     integer,
    last_error      text,
    delivered_at    timestamptz,
    UNIQUE (event_id, webhook_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id DESC);

-- One row: when a showtime counts as nearly sold out (percent of its seats sold).
CREATE TABLE notification_settings (
    only_row                boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    nearly_sold_out_percent integer NOT NULL DEFAULT 90 CHECK (nearly_sold_out_percent BETWEEN 1 AND 100)
);
INSERT INTO notification_settings DEFAULT VALUES;

CREATE FUNCTION notify_event(event_type text, body jsonb, key text DEFAULT NULL) RETURNS void AS $$
DECLARE
    event uuid;
BEGIN
    INSERT INTO notification_events (type, payload, once_key) VALUES (event_type, body, key)
    ON CONFLICT (once_key) DO NOTHING
    RETURNING id INTO event;
    IF event IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO webhook_deliveries (event_id, webhook_id)
    SELECT event, w.id FROM webhooks w WHERE w.deleted_at IS NULL AND event_type = ANY (w.events);
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION notify_booking_status() RETURNS trigger AS $$
DECLARE
    body jsonb := jsonb_build_object(
        'booking_id', NEW.id, 'user_id', NEW.user_id, 'showtime_id', NEW.showtime_id,
        'amount_minor', NEW.amount_minor, 'currency', NEW.currency, 'status', NEW.status,
        'seat_ids', (SELECT coalesce(jsonb_agg(seat_id ORDER BY seat_id), '[]'::jsonb) FROM booking_seats WHERE booking_id = NEW.id));
BEGIN
    IF NEW.status = 'confirmed' THEN
        PERFORM notify_event('booking.confirmed', body || jsonb_build_object('ticket_code', NEW.ticket_code));
    ELSIF NEW.status = 'cancelled' THEN
        PERFORM notify_event('booking.cancelled', body);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER bookings_notify AFTER UPDATE OF status ON bookings
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION notify_booking_status();

CREATE FUNCTION notify_payment_failed() RETURNS trigger AS $$
BEGIN
    PERFORM notify_event('payment.failed', jsonb_build_object(
        'payment_id', NEW.id, 'booking_id', NEW.booking_id, 'amount_minor', NEW.amount_minor, 'currency', NEW.currency));
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER payments_notify AFTER UPDATE OF status ON payments
    FOR EACH ROW WHEN (NEW.status = 'failed' AND OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION notify_payment_failed();

CREATE FUNCTION notify_refund() RETURNS trigger AS $$
BEGIN
    PERFORM notify_event('refund.recorded', jsonb_build_object(
        'refund_id', NEW.id, 'booking_id', NEW.booking_id, 'payment_id', NEW.payment_id,
        'amount_minor', NEW.amount_minor, 'currency', NEW.currency, 'reason', NEW.reason));
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER refunds_notify AFTER INSERT ON refunds FOR EACH ROW EXECUTE FUNCTION notify_refund();

CREATE FUNCTION notify_showtime_cancelled() RETURNS trigger AS $$
BEGIN
    PERFORM notify_event('showtime.cancelled', jsonb_build_object('showtime_id', NEW.id, 'starts_at', NEW.starts_at));
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER showtimes_notify AFTER UPDATE OF status ON showtimes
    FOR EACH ROW WHEN (NEW.status = 'cancelled' AND OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION notify_showtime_cancelled();

-- Once per showtime, by the statement that sells past the threshold: counted only until told.
CREATE FUNCTION notify_nearly_sold_out() RETURNS trigger AS $$
DECLARE
    showtime bigint;
    sold bigint;
    total bigint;
    threshold integer := (SELECT nearly_sold_out_percent FROM notification_settings);
BEGIN
    FOR showtime IN SELECT DISTINCT c.showtime_id FROM changed c WHERE c.status = 'sold' LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM notification_events WHERE once_key = 'nearly_sold_out:' || showtime);
        SELECT count(*) FILTER (WHERE s.status = 'sold'), count(*) INTO sold, total FROM showtime_seats s WHERE s.showtime_id = showtime;
        IF total > 0 AND sold * 100 >= total * threshold THEN
            PERFORM notify_event('showtime.nearly_sold_out',
                jsonb_build_object('showtime_id', showtime, 'sold', sold, 'capacity', total, 'threshold_percent', threshold),
                'nearly_sold_out:' || showtime);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER showtime_seats_notify AFTER UPDATE ON showtime_seats
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION notify_nearly_sold_out();
