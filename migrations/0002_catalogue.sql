-- Catalogue: a movie that still has showtimes with bookings cannot lose its row (bookings
-- point at those showtimes), so deleting it archives it instead; archived movies leave every
-- public list.
ALTER TABLE movies ADD COLUMN archived_at timestamptz;
CREATE INDEX movies_listed ON movies (lower(title), id) WHERE archived_at IS NULL;

-- "Drama" and "drama" are the same genre.
CREATE UNIQUE INDEX genres_name_lower ON genres (lower(name));
