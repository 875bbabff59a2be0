-- Joins a showtime's waiting room, one ticket per account.
-- KEYS: 1 waiting (zset ticket -> order), 2 active (zset ticket -> last seen ms), 3 owners
--       (hash ticket -> user), 4 tickets of users (hash user -> ticket), 5 states (hash ticket ->
--       waiting|admitted|expired|left|done), 6 admitted at (hash ticket -> ms), 7 meta (hash),
--       8 this client address's joins this second (counter), 9 sold set, 10 holders (hash seat -> hold)
-- ARGV: 1 new ticket id, 2 user id, 3 a uniform random order key in [0, 1e15) for an arrival
--       before the opening, 4 opening ms, 5 joins per address and second, 6 mode (always |
--       automatic), 7 seats of the showtime, 8 average seats per booking, 9 active shoppers at
--       most ('' = from the seats left), 10 default admissions per second
-- Before the opening a ticket's place is its random key: those who came early are in a uniformly
-- random order, fixed when they joined. After it, places follow arrival (1e15 + a sequence).
-- Returns {"joined", ticket} | {"existing", ticket} | {"rate_limited"}
local waiting_key, active_key, owners_key, users_key, states_key, admitted_key, meta_key, rate_key, sold_key, holders_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local ticket, user, random_key, opens_ms = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local per_address, mode = tonumber(ARGV[5]), ARGV[6]
local capacity, per_booking, max_active_setting = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local default_rate = tonumber(ARGV[10])

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local existing = redis.call('HGET', users_key, user)
if existing then
  local state = redis.call('HGET', states_key, existing)
  if state == 'waiting' or state == 'admitted' then return {'existing', existing} end
end
local joins = redis.call('INCR', rate_key)
if joins == 1 then redis.call('PEXPIRE', rate_key, 1000) end
if joins > per_address then return {'rate_limited'} end

redis.call('HSET', meta_key, 'opens_ms', opens_ms)
redis.call('HSET', owners_key, ticket, user)
redis.call('HSET', users_key, user, ticket)
redis.call('HINCRBY', meta_key, 'joined', 1)

-- Automatic: nobody waits while nobody is waiting, the shoppers have room and arrivals stay
-- within the admission rate (the same token bucket as queue-admit.lua's); else the room engages.
if mode == 'automatic' and now >= opens_ms and redis.call('ZCARD', waiting_key) == 0
    and redis.call('HGET', meta_key, 'paused') ~= '1' then
  local rate = tonumber(redis.call('HGET', meta_key, 'rate') or '') or default_rate
  local last = tonumber(redis.call('HGET', meta_key, 'last_ms') or '') or now
  local tokens = tonumber(redis.call('HGET', meta_key, 'tokens') or '') or rate
  tokens = math.min(rate, tokens + math.max(now - last, 0) * rate / 1000)
  -- The sold set also holds its markers ('loaded', 'closed'); not loaded: nothing sold yet.
  local sold = 0
  if redis.call('SISMEMBER', sold_key, 'loaded') == 1 then
    sold = redis.call('SCARD', sold_key) - 1 - redis.call('SISMEMBER', sold_key, 'closed')
  end
  local free = capacity - sold - redis.call('HLEN', holders_key)
  local max_active = tonumber(redis.call('HGET', meta_key, 'max_active') or '') or max_active_setting
    or math.ceil(math.max(free, 0) / per_booking)
  if tokens >= 1 and redis.call('ZCARD', active_key) < max_active then
    redis.call('ZADD', active_key, now, ticket)
    redis.call('HSET', states_key, ticket, 'admitted')
    redis.call('HSET', admitted_key, ticket, now)
    redis.call('HINCRBY', meta_key, 'admitted', 1)
    redis.call('HSETNX', meta_key, 'first_admit_ms', now)
    redis.call('HSET', meta_key, 'last_ms', now, 'tokens', tostring(tokens - 1))
    return {'joined', ticket}
  end
end

local order
if now < opens_ms then
  order = random_key
else
  order = 1e15 + redis.call('HINCRBY', meta_key, 'seq', 1)
end
redis.call('ZADD', waiting_key, order, ticket)
redis.call('HSET', states_key, ticket, 'waiting')
return {'joined', ticket}
