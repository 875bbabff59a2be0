-- Releases a hold: by its owner, by the expiry worker, or after a failed payment.
-- Idempotent; deletes only seat keys that still name this hold.
-- KEYS: 1 hold hash, 2 expiry zset, 3 version, 4 per-user seat counts (hash), 5 holders (hash),
--       6.. the hold's seat keys, in the order of ARGV[4]
-- ARGV: 1 hold id, 2 owner id required ('' = any: the worker), 3 events channel,
--       4 the hold's seats as the caller believes them (comma-separated; '' = unknown)
-- Every key a script touches is named in KEYS (a Redis Cluster requires it), so the caller
-- must know the hold's seats: when ARGV[4] is not what the hold records, nothing changes and
-- the script answers {"seats", the recorded list} for the caller to call again with.
-- Returns {"released", version, seat...} | {"gone"} | {"not_owner"} | {"seats", list}
local hold_key, expiry_key, version_key, users_key, holders_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local hold_id, required_owner, channel, believed = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local hold = redis.call('HMGET', hold_key, 'owner', 'seats')
local owner, seat_list = hold[1], hold[2]
if not owner then
  redis.call('ZREM', expiry_key, hold_id)
  return {'gone'}
end
if required_owner ~= '' and owner ~= required_owner then
  return {'not_owner'}
end
if seat_list ~= believed then
  return {'seats', seat_list}
end

local released = {}
local delta = {}
local index = 5
local prefix = hold_id .. '|'
for seat in string.gmatch(seat_list, '[^,]+') do
  index = index + 1
  local key = KEYS[index]
  local holder = redis.call('GET', key)
  if holder == hold_id then
    redis.call('DEL', key)
  end
  local entry = redis.call('HGET', holders_key, seat)
  if entry and string.sub(entry, 1, #prefix) == prefix then
    redis.call('HDEL', holders_key, seat)
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
redis.call('SPUBLISH', channel, message)
table.insert(released, 1, version)
table.insert(released, 1, 'released')
return released
