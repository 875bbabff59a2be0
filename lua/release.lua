-- Releases a hold: by its owner, by the expiry worker, or after a failed payment.
-- Idempotent; deletes only seat keys that still name this hold.
-- KEYS: 1 hold hash, 2 expiry zset, 3 version, 4 per-user seat counts (hash)
-- ARGV: 1 hold id, 2 owner id required ('' = any: the worker), 3 events channel,
--       4 seat key prefix (bo:{st:ID}:seat:)
-- Returns {"released", version, seat...} | {"gone"} | {"not_owner"}
local hold_key, expiry_key, version_key, users_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local hold_id, required_owner, channel, seat_prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local hold = redis.call('HMGET', hold_key, 'owner', 'seats')
local owner, seat_list = hold[1], hold[2]
if not owner then
  redis.call('ZREM', expiry_key, hold_id)
  return {'gone'}
end
if required_owner ~= '' and owner ~= required_owner then
  return {'not_owner'}
end

local released = {}
local delta = {}
for seat in string.gmatch(seat_list, '[^,]+') do
  local key = seat_prefix .. seat
  local holder = redis.call('GET', key)
  if holder == hold_id then
    redis.call('DEL', key)
  end
  released[#released + 1] = seat
  -- A seat that another hold took after this one expired stays held: say nothing of it.
  if holder == hold_id or not holder then
    delta[#delta + 1] = {id = tonumber(seat) or seat, status = 'available'}
  end
end
redis.call('DEL', hold_key)
redis.call('ZREM', expiry_key, hold_id)
local left = redis.call('HINCRBY', users_key, owner, -#released)
if left <= 0 then redis.call('HDEL', users_key, owner) end
local version = redis.call('INCR', version_key)
-- cjson writes an empty table as {}; clients expect a list.
local message = #delta > 0 and cjson.encode({version = version, seats = delta})
  or ('{"version":' .. version .. ',"seats":[]}')
redis.call('PUBLISH', channel, message)
table.insert(released, 1, version)
table.insert(released, 1, 'released')
return released
