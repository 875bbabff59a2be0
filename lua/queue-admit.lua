-- One admission step of a showtime's waiting room; any instance may run it at any time (the
-- rate is kept here, in tokens, so more callers admit no faster).
-- KEYS: 1 waiting, 2 active, 3 states, 4 admitted at, 5 meta, 6 sold set, 7 holders (hash seat -> hold)
-- ARGV: 1 opening ms, 2 seats of the showtime, 3 average seats per booking, 4 inactivity ms,
--       5 default admissions per second, 6 active shoppers at most ('' = from the seats left)
-- Shoppers not seen for the inactivity time stop being active. With no seat free and none held
-- (so none can lapse free), the sale is sold out; when seats come back, admission resumes.
-- Returns {admitted now, waiting, active, sold out 0|1, max active}
local waiting_key, active_key, states_key, admitted_key, meta_key, sold_key, holders_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local opens_ms, capacity, per_booking = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local inactivity, default_rate, max_active_setting = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

for _, ticket in ipairs(redis.call('ZRANGEBYSCORE', active_key, '-inf', now - inactivity)) do
  redis.call('ZREM', active_key, ticket)
  redis.call('HSET', states_key, ticket, 'expired')
end

-- The sold set also holds its markers ('loaded', 'closed'). Not loaded yet: nobody has held
-- (a hold loads it first), so every seat counts as free and nothing is sold out.
local held = redis.call('HLEN', holders_key)
local loaded = redis.call('SISMEMBER', sold_key, 'loaded') == 1
local sold = loaded and (redis.call('SCARD', sold_key) - 1 - redis.call('SISMEMBER', sold_key, 'closed')) or 0
local free = capacity - sold - held
local sold_out = loaded and free <= 0 and held == 0
if sold_out then redis.call('HSET', meta_key, 'sold_out', 1) else redis.call('HDEL', meta_key, 'sold_out') end

local max_active = tonumber(redis.call('HGET', meta_key, 'max_active') or '') or max_active_setting
  or math.ceil(math.max(free, 0) / per_booking)
local rate = tonumber(redis.call('HGET', meta_key, 'rate') or '') or default_rate
local last = tonumber(redis.call('HGET', meta_key, 'last_ms') or '') or now
local tokens = tonumber(redis.call('HGET', meta_key, 'tokens') or '') or rate
tokens = math.min(rate, tokens + math.max(now - last, 0) * rate / 1000)

local active = redis.call('ZCARD', active_key)
local count = math.floor(math.min(tokens, max_active - active))
if now < opens_ms or sold_out or redis.call('HGET', meta_key, 'paused') == '1' then count = 0 end
local admitted = 0
if count > 0 then
  local popped = redis.call('ZPOPMIN', waiting_key, count)
  for i = 1, #popped, 2 do
    local ticket = popped[i]
    redis.call('ZADD', active_key, now, ticket)
    redis.call('HSET', states_key, ticket, 'admitted')
    redis.call('HSET', admitted_key, ticket, now)
    admitted = admitted + 1
  end
end
tokens = tokens - admitted
redis.call('HSET', meta_key, 'last_ms', now, 'tokens', tostring(tokens))
if admitted > 0 then
  redis.call('HINCRBY', meta_key, 'admitted', admitted)
  redis.call('HSETNX', meta_key, 'first_admit_ms', now)
end
return {admitted, redis.call('ZCARD', waiting_key), active + admitted, sold_out and 1 or 0, max_active}
