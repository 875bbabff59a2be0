-- Takes every requested seat for one hold, or none (all-or-nothing).
-- KEYS: 1 hold hash, 2 expiry zset, 3 sold set, 4 version, 5 per-user seat counts (hash),
--       6 the owner's attempt counter for this showtime, 7 holders (hash: seat -> hold|owner|expiry ms),
--       8.. one seat key per requested seat (bo:{st:ID}:seat:SEAT), in ARGV's seat order
-- ARGV: 1 hold id, 2 owner id, 3 ttl ms, 4 per-user seat limit, 5 events channel,
--       6 attempts allowed per second ('' when this request was already counted),
--       7 the showtime's start (ms) as the holder was shown it, recorded in the hold,
--       8.. seat ids
-- Returns {"ok", version, expires_at_ms} | {"taken", seat...} | {"limit", held_now}
--       | {"too_many"} when the owner tried too often this second
--       | {"closed"} when the showtime was cancelled (its sold cache carries the mark)
--       | {"not_loaded"} when the sold cache must be filled from PostgreSQL first.
local hold_key, expiry_key, sold_key, version_key, users_key, attempts_key, holders_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local hold_id, owner, ttl, limit, channel = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local attempts_allowed = tonumber(ARGV[6])
local starts_at = ARGV[7]
local first = 7
local first_arg = 7
local count = #KEYS - first

-- Counted in the same script as the hold: one round trip, and a refused attempt still counts.
if attempts_allowed then
  local attempts = redis.call('INCR', attempts_key)
  if attempts == 1 then redis.call('PEXPIRE', attempts_key, 1000) end
  if attempts > attempts_allowed then return {'too_many'} end
end

if redis.call('SISMEMBER', sold_key, 'loaded') == 0 then
  return {'not_loaded'}
end
-- Set by the cancel (and by load-sold from PostgreSQL's status), so every instance refuses at once.
if redis.call('SISMEMBER', sold_key, 'closed') == 1 then
  return {'closed'}
end

local held_now = tonumber(redis.call('HGET', users_key, owner) or '0')
if held_now + count > limit then
  return {'limit', held_now}
end

-- Check everything before changing anything, so a refusal leaves no partial hold.
local taken = {}
for i = 1, count do
  local seat = ARGV[first_arg + i]
  if redis.call('SISMEMBER', sold_key, seat) == 1 or redis.call('EXISTS', KEYS[first + i]) == 1 then
    taken[#taken + 1] = seat
  end
end
if #taken > 0 then
  table.insert(taken, 1, 'taken')
  return taken
end

-- Redis' clock, never an app instance's: every instance agrees on expiry.
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local expires = now_ms + ttl

local seats = {}
local delta = {}
local holder = hold_id .. '|' .. owner .. '|' .. expires
for i = 1, count do
  redis.call('SET', KEYS[first + i], hold_id, 'NX', 'PX', ttl)
  seats[i] = ARGV[first_arg + i]
  -- The seat key is the lock; the holders hash is what a seat map reads (one hash, not a key per seat).
  redis.call('HSET', holders_key, seats[i], holder)
  delta[i] = {id = tonumber(seats[i]) or seats[i], status = 'held'}
end
redis.call('HSET', hold_key, 'owner', owner, 'seats', table.concat(seats, ','),
  'expires_at', expires, 'extensions', 0, 'starts_at', starts_at)
-- The hash outlives the seat keys a little, so the expiry worker can still read it.
redis.call('PEXPIRE', hold_key, ttl + 60000)
redis.call('ZADD', expiry_key, expires, hold_id)
redis.call('HINCRBY', users_key, owner, count)
-- Counts normally fall as holds are released; should a release never come (no worker for a
-- while), the counts still lapse once no hold has been taken for longer than a hold lasts.
redis.call('PEXPIRE', users_key, ttl + 120000)
redis.call('PEXPIRE', holders_key, ttl + 120000)
local version = redis.call('INCR', version_key)
redis.call('SPUBLISH', channel, cjson.encode({version = version, seats = delta}))
return {'ok', version, expires}
