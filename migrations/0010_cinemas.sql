-- A chain of cinemas: each owns halls and has its own time zone and currency. The halls of the
-- single cinema before go to a default cinema, which follows BOXOFFICE_TIMEZONE (set at every
-- start) until an admin edits it, so nothing changes for existing clients.
CREATE TABLE cinemas (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    city             text NOT NULL CHECK (length(city) BETWEEN 1 AND 100),
    address          text NOT NULL DEFAULT '' CHECK (length(address) <= 500),
    time_zone        text NOT NULL,
    currency         char(3) NOT NULL DEFAULT 'EUR',
    follows_settings boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cinemas_city ON cinemas (city, name);
INSERT INTO cinemas (name, city, time_zone, follows_settings) VALUES ('BoxOffice', 'Berlin', 'Europe/Berlin', true);

ALTER TABLE halls ADD COLUMN cinema_id bigint REFERENCES cinemas (id);
UPDATE halls SET cinema_id = (SELECT min(id) FROM cinemas);
ALTER TABLE halls ALTER COLUMN cinema_id SET NOT NULL;
-- A hall made without naming its cinema joins the default (first) one, as before the chain.
CREATE FUNCTION default_cinema() RETURNS bigint AS 'SELECT min(id) FROM cinemas' LANGUAGE sql STABLE;
ALTER TABLE halls ALTER COLUMN cinema_id SET DEFAULT default_cinema();
CREATE INDEX halls_cinema ON halls (cinema_id);
