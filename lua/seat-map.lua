-- Reads a showtime's availability in one atomic step (changes nothing): the version, the sold
-- seats, every held seat, and which of those the viewer holds.
-- KEYS: 1 version, 2 sold set, 3 per-user seat counts (hash)
-- ARGV: 1 seat key prefix, 2 hold key prefix, 3 viewer id ('' = nobody),
--       4 a version the caller already has a rendering of ('' = none), 5.. seat ids
-- Returns {version, 2} when that version is current and the viewer holds nothing here (the
-- caller's rendering is still right for them), {version, 0} when the sold cache must be
-- loaded first, else {version, 1, {sold seat...}, {held seat...}, {seat held by the viewer...}}
local version_key, sold_key, users_key = KEYS[1], KEYS[2], KEYS[3]
local seat_prefix, hold_prefix, viewer, known = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local version = tonumber(redis.call('GET', version_key) or '0')
if redis.call('SISMEMBER', sold_key, 'loaded') == 0 then
  return {version, 0}
end
if known == tostring(version) and (viewer == '' or not redis.call('HGET', users_key, viewer)) then
  return {version, 2}
end
local sold = redis.call('SMEMBERS', sold_key)

local first_seat = 5
local held, mine, owners = {}, {}, {}
-- MGET in slices: unpack spreads a limited number of values.
for first = first_seat, #ARGV, 1000 do
  local last = math.min(first + 999, #ARGV)
  local seat_keys = {}
  for i = first, last do seat_keys[#seat_keys + 1] = seat_prefix .. ARGV[i] end
  local holders = redis.call('MGET', unpack(seat_keys))
  for offset, hold_id in ipairs(holders) do
    if hold_id then
      local seat = ARGV[first + offset - 1]
      held[#held + 1] = seat
      if viewer ~= '' then
        local owner = owners[hold_id]
        if owner == nil then
          owner = redis.call('HGET', hold_prefix .. hold_id, 'owner') or ''
          owners[hold_id] = owner
        end
        if owner == viewer then mine[#mine + 1] = seat end
      end
    end
  end
end
return {version, 1, sold, held, mine}
