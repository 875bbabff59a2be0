-- After PostgreSQL committed a sale: the seats join the sold cache, the hold goes away.
-- KEYS: 1 hold hash, 2 expiry zset, 3 sold set, 4 version, 5 per-user seat counts (hash),
--       6 each seat's last applied PostgreSQL row version (hash)
-- ARGV: 1 hold id, 2 events channel, 3 seat key prefix, 4.. pairs of sold seat id and the
--       version its row reached with this sale ('' = unversioned: always applied)
-- Effects of different transactions may reach Redis out of order (an instance stalls between
-- its commit and this script): a seat changes only for a version newer than the last applied.
-- Returns {"confirmed", version}
local hold_key, expiry_key, sold_key, version_key, users_key, versions_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local hold_id, channel, seat_prefix = ARGV[1], ARGV[2], ARGV[3]

local delta = {}
for i = 4, #ARGV, 2 do
  local seat, row_version = ARGV[i], tonumber(ARGV[i + 1])
  local applied = tonumber(redis.call('HGET', versions_key, seat) or '-1')
  if not row_version or row_version > applied then
    redis.call('SADD', sold_key, seat)
    if row_version then redis.call('HSET', versions_key, seat, row_version) end
    delta[#delta + 1] = {id = tonumber(seat) or seat, status = 'sold'}
  end
  -- Its key goes only if this hold still owns it.
  if redis.call('GET', seat_prefix .. seat) == hold_id then
    redis.call('DEL', seat_prefix .. seat)
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
redis.call('PUBLISH', channel, message)
return {'confirmed', version}
