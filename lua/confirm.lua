-- After PostgreSQL committed a sale: the seats join the sold cache, the hold goes away.
-- KEYS: 1 hold hash, 2 expiry zset, 3 sold set, 4 version, 5 per-user seat counts (hash),
--       6 each seat's last applied PostgreSQL row version (hash), 7 holders (hash),
--       8.. the sold seats' keys, in ARGV's order
-- ARGV: 1 hold id, 2 events channel, 3.. pairs of sold seat id and the version its row
--       reached with this sale ('' = unversioned: always applied)
-- Effects of different transactions may reach Redis out of order (an instance stalls between
-- its commit and this script): a seat changes only for a version newer than the last applied.
-- Returns {"confirmed", version}
local hold_key, expiry_key, sold_key, version_key, users_key, versions_key, holders_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local hold_id, channel = ARGV[1], ARGV[2]
local prefix = hold_id .. '|'

local delta = {}
local index = 7
for i = 3, #ARGV, 2 do
  index = index + 1
  local seat, row_version = ARGV[i], tonumber(ARGV[i + 1])
  local applied = tonumber(redis.call('HGET', versions_key, seat) or '-1')
  if not row_version or row_version > applied then
    redis.call('SADD', sold_key, seat)
    if row_version then redis.call('HSET', versions_key, seat, row_version) end
    delta[#delta + 1] = {id = tonumber(seat) or seat, status = 'sold'}
  end
  -- Its key goes only if this hold still owns it.
  if redis.call('GET', KEYS[index]) == hold_id then
    redis.call('DEL', KEYS[index])
  end
  local entry = redis.call('HGET', holders_key, seat)
  if entry and string.sub(entry, 1, #prefix) == prefix then
    redis.call('HDEL', holders_key, seat)
  end
end
local owner = redis.call('HGET', hold_key, 'owner')
if owner then
  local seats = redis.call('HGET', hold_key, 'seats')
  local n = 0
  for _ in string.gmatch(seats, '[^,]+') do n = n + 1 end
  local left = redis.call('HINCRBY', users_key, owner, -n)
  if left <= 0 then redis.call('HDEL', users_key, owner) end
  redis.call('DEL', hold_key)
end
redis.call('ZREM', expiry_key, hold_id)
local version = redis.call('INCR', version_key)
local message = #delta > 0 and cjson.encode({version = version, seats = delta})
  or ('{"version":' .. version .. ',"seats":[]}')
redis.call('SPUBLISH', channel, message)
return {'confirmed', version}
