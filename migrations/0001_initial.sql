-- BoxOffice schema: PostgreSQL is the source of truth for everything that must not be lost.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL UNIQUE CHECK (email = lower(email) AND position('@' in email) > 1),
    password_hash text NOT NULL,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'staff', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Opaque refresh tokens, stored only as a hash; rotation keeps the family so that reuse of a
-- rotated token can revoke the whole family.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE genres (
    id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100)
);

CREATE TABLE movies (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title               text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    description         text NOT NULL DEFAULT '',
    duration_minutes    integer NOT NULL CHECK (duration_minutes BETWEEN 1 AND 1000),
    age_rating          text,
    release_year        integer CHECK (release_year BETWEEN 1880 AND 2200),
    poster_file         text,
    poster_content_type text,
    poster_etag         text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX movies_title_lower ON movies (lower(title) text_pattern_ops);

CREATE TABLE movie_genres (
    movie_id bigint NOT NULL REFERENCES movies (id) ON DELETE CASCADE,
    genre_id bigint NOT NULL REFERENCES genres (id) ON DELETE CASCADE,
    PRIMARY KEY (movie_id, genre_id)
);
CREATE INDEX movie_genres_genre ON movie_genres (genre_id);

CREATE TABLE halls (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    cleaning_minutes integer NOT NULL DEFAULT 15 CHECK (cleaning_minutes BETWEEN 0 AND 600),
    -- The point of the best view, in seat coordinates; best-available seats are nearest to it.
    best_view_x      double precision,
    best_view_y      double precision,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- One row a seat. position counts places along the row, gaps and aisles included, so two
-- seats are adjacent exactly when their positions differ by one.
CREATE TABLE seats (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hall_id   bigint NOT NULL REFERENCES halls (id) ON DELETE CASCADE,
    row_label text NOT NULL,
    row_index integer NOT NULL,
    number    integer NOT NULL,
    position  integer NOT NULL,
    category  text NOT NULL DEFAULT 'standard',
    x         double precision NOT NULL,
    y         double precision NOT NULL,
    UNIQUE (hall_id, row_label, number),
    UNIQUE (hall_id, row_index, position)
);

CREATE TABLE showtimes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    movie_id   bigint NOT NULL REFERENCES movies (id),
    hall_id    bigint NOT NULL REFERENCES halls (id),
    starts_at  timestamptz NOT NULL,
    -- start + the movie's duration + the hall's cleaning time, fixed when scheduled.
    ends_at    timestamptz NOT NULL,
    currency   char(3) NOT NULL DEFAULT 'EUR',
    status     text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'cancelled')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    cancelled_at timestamptz,
    CHECK (ends_at > starts_at),
    -- Two live showtimes of one hall never overlap, whatever the requests race to do.
    CONSTRAINT showtimes_no_overlap EXCLUDE USING gist (
        hall_id WITH =, tstzrange(starts_at, ends_at) WITH &&
    ) WHERE (status = 'scheduled')
);
CREATE INDEX showtimes_starts_at ON showtimes (starts_at);
CREATE INDEX showtimes_movie ON showtimes (movie_id, starts_at);

CREATE TABLE showtime_prices (
    showtime_id bigint NOT NULL REFERENCES showtimes (id) ON DELETE CASCADE,
    category    text NOT NULL,
    price_minor bigint NOT NULL CHECK (price_minor >= 0),
    PRIMARY KEY (showtime_id, category)
);

-- One row a seat of a showtime; version is the optimistic-concurrency check of checkout.
CREATE TABLE showtime_seats (
    showtime_id bigint NOT NULL REFERENCES showtimes (id) ON DELETE CASCADE,
    seat_id     bigint NOT NULL REFERENCES seats (id),
    status      text NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'sold')),
    version     integer NOT NULL DEFAULT 0,
    booking_id  uuid,
    PRIMARY KEY (showtime_id, seat_id),
    CHECK ((status = 'sold') = (booking_id IS NOT NULL))
);
CREATE INDEX showtime_seats_sold ON showtime_seats (showtime_id) WHERE status = 'sold';

CREATE TABLE bookings (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users (id),
    showtime_id     bigint NOT NULL REFERENCES showtimes (id),
    hold_id         text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'confirmed', 'failed', 'payment_failed', 'expired', 'cancelled')),
    amount_minor    bigint NOT NULL CHECK (amount_minor >= 0),
    currency        char(3) NOT NULL,
    ticket_code     text UNIQUE,
    idempotency_key text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    confirmed_at    timestamptz,
    cancelled_at    timestamptz,
    checked_in_at   timestamptz,
    -- Checking out the same hold twice finds the first booking.
    UNIQUE (hold_id),
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX bookings_user ON bookings (user_id, created_at DESC);
CREATE INDEX bookings_showtime ON bookings (showtime_id, status);
CREATE INDEX bookings_pending ON bookings (created_at) WHERE status = 'pending';

ALTER TABLE showtime_seats
    ADD CONSTRAINT showtime_seats_booking FOREIGN KEY (booking_id) REFERENCES bookings (id);

CREATE TABLE booking_seats (
    booking_id       uuid NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    showtime_id      bigint NOT NULL,
    seat_id          bigint NOT NULL,
    price_minor      bigint NOT NULL CHECK (price_minor >= 0),
    -- showtime_seats.version as read at checkout: the payment confirms only if it is unchanged.
    expected_version integer NOT NULL,
    -- True while the booking holds the seat (confirmed, not cancelled).
    active           boolean NOT NULL DEFAULT false,
    PRIMARY KEY (booking_id, seat_id),
    FOREIGN KEY (showtime_id, seat_id) REFERENCES showtime_seats (showtime_id, seat_id)
);
-- The backstop: no seat of a showtime is in two active bookings, whatever the code does.
CREATE UNIQUE INDEX booking_seats_one_active ON booking_seats (showtime_id, seat_id) WHERE active;

CREATE TABLE payments (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    booking_id          uuid NOT NULL REFERENCES bookings (id),
    provider            text NOT NULL,
    provider_payment_id text NOT NULL,
    amount_minor        bigint NOT NULL CHECK (amount_minor >= 0),
    currency            char(3) NOT NULL,
    status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'succeeded', 'failed')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, provider_payment_id)
);
CREATE INDEX payments_booking ON payments (booking_id);

-- Every callback the provider sent, recorded in the same transaction as its effect:
-- a replay finds its event id here and changes nothing.
CREATE TABLE payment_events (
    provider     text NOT NULL,
    event_id     text NOT NULL,
    payment_id   uuid REFERENCES payments (id),
    status       text NOT NULL,
    amount_minor bigint,
    currency     text,
    outcome      text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);

CREATE TABLE refunds (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    booking_id   uuid NOT NULL REFERENCES bookings (id),
    payment_id   uuid REFERENCES payments (id),
    amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
    currency     char(3) NOT NULL,
    reason       text NOT NULL,
    status       text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'succeeded', 'failed')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_booking ON refunds (booking_id);
