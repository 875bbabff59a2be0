-- E-mail to the customer for the events about their booking, written with the event (so in
-- the same transaction as the change) and sent by every instance's e-mail deliverer.
CREATE TABLE email_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid NOT NULL UNIQUE REFERENCES notification_events (id),
    recipient       text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    last_error      text,
    delivered_at    timestamptz
);
CREATE INDEX email_deliveries_due ON email_deliveries (next_attempt_at) WHERE status = 'pending';

CREATE OR REPLACE FUNCTION notify_event(event_type text, body jsonb, key text DEFAULT NULL) RETURNS void AS $$
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
    IF event_type IN ('booking.confirmed', 'booking.cancelled', 'refund.recorded') THEN
        INSERT INTO email_deliveries (event_id, recipient)
        SELECT event, u.email FROM bookings b JOIN users u ON u.id = b.user_id WHERE b.id = (body->>'booking_id')::uuid;
    END IF;
END
$$ LANGUAGE plpgsql;
