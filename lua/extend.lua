-- Extends a live hold by its owner, a bounded number of times.
-- KEYS: 1 hold hash, 2 expiry zset, 3 holders (hash), 4.. the hold's seat keys, in the order of ARGV[5]
-- ARGV: 1 hold id, 2 owner id, 3 extension ms, 4 most extensions,
--       5 the hold's seats as the caller believes them (comma-separated; '' = unknown),
--       6 (optional) the booking a checkout made of this hold, recorded in the hold
-- As in release.lua, a wrong ARGV[5] changes nothing and answers {"seats", the recorded list}.
-- Returns {"extended", expires_at_ms, extensions_used} | {"gone"} | {"not_owner"} | {"limit"} | {"seats", list}
local hold_key, expiry_key, holders_key = KEYS[1], KEYS[2], KEYS[3]
local hold_id, owner, extension, most, believed = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local booking = ARGV[6]

local hold = redis.call('HMGET', hold_key, 'owner', 'seats', 'expires_at', 'extensions')
if not hold[1] then return {'gone'} end
if hold[1] ~= owner then return {'not_owner'} end
if hold[2] ~= believed then return {'seats', hold[2]} end

local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if tonumber(hold[3]) <= now_ms then return {'gone'} end
local used = tonumber(hold[4])
if used >= most then return {'limit'} end

-- Every seat must still be this hold's; a seat key that expired means the hold is over.
for index = 4, #KEYS do
  if redis.call('GET', KEYS[index]) ~= hold_id then return {'gone'} end
end
local expires = tonumber(hold[3]) + extension
local index = 3
local holder = hold_id .. '|' .. owner .. '|' .. expires
for seat in string.gmatch(hold[2], '[^,]+') do
  index = index + 1
  redis.call('PEXPIREAT', KEYS[index], expires)
  redis.call('HSET', holders_key, seat, holder)
end
if redis.call('PTTL', holders_key) < expires - now_ms + 120000 then
  redis.call('PEXPIREAT', holders_key, expires + 120000)
end
redis.call('HSET', hold_key, 'expires_at', expires, 'extensions', used + 1)
if booking and booking ~= '' then redis.call('HSET', hold_key, 'booking', booking) end
redis.call('PEXPIREAT', hold_key, expires + 60000)
redis.call('ZADD', expiry_key, expires, hold_id)
return {'extended', expires, used + 1}
