-- Reads a showtime's availability in one atomic step (changes nothing): the version, the sold
-- seats, every held seat, and which of those the viewer holds.
-- KEYS: 1 version, 2 sold set, 3 per-user seat counts (hash), 4 holders (hash: seat -> hold|owner|expiry ms)
-- ARGV: 1 viewer id ('' = nobody), 2 a version the caller already has a rendering of ('' = none)
-- Returns {version, 2} when that version is current and the viewer holds nothing here (the
-- caller's rendering is still right for them), {version, 0} when the sold cache must be
-- loaded first, else {version, 1, {sold seat...}, {held seat...}, {seat held by the viewer...}}
local version_key, sold_key, users_key, holders_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local viewer, known = ARGV[1], ARGV[2]

local version = tonumber(redis.call('GET', version_key) or '0')
if redis.call('SISMEMBER', sold_key, 'loaded') == 0 then
  return {version, 0}
end
if known == tostring(version) and (viewer == '' or not redis.call('HGET', users_key, viewer)) then
  return {version, 2}
end
local sold = redis.call('SMEMBERS', sold_key)

-- A seat is held while its holder's expiry (Redis' clock, as the seat key's) is ahead: the
-- entry of a hold that lapsed without a release yet is not a hold.
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local held, mine = {}, {}
local entries = redis.call('HGETALL', holders_key)
for i = 1, #entries, 2 do
  local seat, entry = entries[i], entries[i + 1]
  local _, _, owner, expires = string.find(entry, '^[^|]*|([^|]*)|(%d+)$')
  if expires and tonumber(expires) > now_ms then
    held[#held + 1] = seat
    if viewer ~= '' and owner == viewer then mine[#mine + 1] = seat end
  end
end
return {version, 1, sold, held, mine}
