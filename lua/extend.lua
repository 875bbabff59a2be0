-- Extends a live hold by its owner, a bounded number of times.
-- KEYS: 1 hold hash, 2 expiry zset
-- ARGV: 1 hold id, 2 owner id, 3 extension ms, 4 most extensions, 5 seat key prefix,
--       6 (optional) the booking a checkout made of this hold, recorded in the hold
-- Returns {"extended", expires_at_ms, extensions_used} | {"gone"} | {"not_owner"} | {"limit"}
local hold_key, expiry_key = KEYS[1], KEYS[2]
local hold_id, owner, extension, most, seat_prefix = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local booking = ARGV[6]

local hold = redis.call('HMGET', hold_key, 'owner', 'seats', 'expires_at', 'extensions')
if not hold[1] then return {'gone'} end
if hold[1] ~= owner then return {'not_owner'} end

local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if tonumber(hold[3]) <= now_ms then return {'gone'} end
local used = tonumber(hold[4])
if used >= most then return {'limit'} end

-- Every seat must still be this hold's; a seat key that expired means the hold is over.
for seat in string.gmatch(hold[2], '[^,]+') do
  if redis.call('GET', seat_prefix .. seat) ~= hold_id then return {'gone'} end
end
local expires = tonumber(hold[3]) + extension
for seat in string.gmatch(hold[2], '[^,]+') do
  redis.call('PEXPIREAT', seat_prefix .. seat, expires)
end
redis.call('HSET', hold_key, 'expires_at', expires, 'extensions', used + 1)
if booking and booking ~= '' then redis.call('HSET', hold_key, 'booking', booking) end
redis.call('PEXPIREAT', hold_key, expires + 60000)
redis.call('ZADD', expiry_key, expires, hold_id)
return {'extended', expires, used + 1}
