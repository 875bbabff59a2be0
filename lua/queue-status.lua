-- A ticket's place in a showtime's waiting room, as its owner sees it.
-- KEYS: 1 waiting, 2 active, 3 owners, 4 states, 5 admitted at, 6 meta
-- ARGV: 1 ticket, 2 user, 3 '1' to count this as the shopper's activity
-- Returns {"unknown"} (no such ticket of this user) | {"waiting", ahead (-1 before the opening),
--   waiting, open 0|1, admitted so far, ms since the first admission, rate, paused 0|1}
--   | {"sold_out", waiting} | {"admitted", admitted at ms} | {state}
local waiting_key, active_key, owners_key, states_key, admitted_key, meta_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local ticket, user, touch = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HGET', owners_key, ticket) ~= user then return {'unknown'} end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HGET', states_key, ticket)
if state == 'admitted' then
  if touch == '1' then redis.call('ZADD', active_key, 'XX', now, ticket) end
  return {'admitted', tonumber(redis.call('HGET', admitted_key, ticket) or '0')}
end
if state ~= 'waiting' then return {state or 'unknown'} end
local total = redis.call('ZCARD', waiting_key)
if redis.call('HGET', meta_key, 'sold_out') == '1' then return {'sold_out', total} end
local open = now >= tonumber(redis.call('HGET', meta_key, 'opens_ms') or '0')
local ahead = open and redis.call('ZRANK', waiting_key, ticket) or -1
local first = tonumber(redis.call('HGET', meta_key, 'first_admit_ms') or '')
return {'waiting', ahead, total, open and 1 or 0, tonumber(redis.call('HGET', meta_key, 'admitted') or '0'),
        first and (now - first) or 0, tonumber(redis.call('HGET', meta_key, 'rate') or '0'),
        redis.call('HGET', meta_key, 'paused') == '1' and 1 or 0}
