-- After PostgreSQL committed a sale: the seats join the sold cache, the hold goes away.
-- KEYS: 1 hold hash, 2 expiry zset, 3 sold set, 4 version, 5 per-user seat counts (hash)
-- ARGV: 1 hold id, 2 events channel, 3 seat key prefix, 4.. the sold seat ids
-- Returns {"confirmed", version}
local hold_key, expiry_key, sold_key, version_key, users_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local hold_id, channel, seat_prefix = ARGV[1], ARGV[2], ARGV[3]

local delta = {}
for i = 4, #ARGV do
  local seat = ARGV[i]
  -- A sold seat always joins the cache; its key goes only if this hold still owns it.
  redis.call('SADD', sold_key, seat)
  if redis.call('GET', seat_prefix .. seat) == hold_id then
    redis.call('DEL', seat_prefix .. seat)
  end
  delta[#delta + 1] = {id = tonumber(seat) or seat, status = 'sold'}
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
redis.call('PUBLISH', channel, cjson.encode({version = version, seats = delta}))
return {'confirmed', version}
