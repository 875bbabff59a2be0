-- Roles per cinema: door staff and managers belong to one cinema (admins and customers to
-- none). Staff from before the chain worked at its only cinema, the default one.
ALTER TABLE users ADD COLUMN cinema_id bigint REFERENCES cinemas (id);
ALTER TABLE users DROP CONSTRAINT users_role_check;
UPDATE users SET cinema_id = default_cinema() WHERE role = 'staff';
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('user', 'staff', 'manager', 'admin'));
ALTER TABLE users ADD CONSTRAINT users_cinema_by_role CHECK ((role IN ('staff', 'manager')) = (cinema_id IS NOT NULL));
CREATE INDEX users_cinema ON users (cinema_id) WHERE cinema_id IS NOT NULL;
