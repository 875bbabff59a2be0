-- The places of many tickets of one waiting room at once, for the streams an instance keeps
-- open (one call per room per tick instead of one poll per person). Owners were checked when
-- each stream opened; nothing here counts as a shopper's activity.
-- KEYS: 1 waiting, 2 states, 3 meta
-- ARGV: n, then n tickets, then n flags ('1': its place is wanted, '0': its state only)
-- Returns {waiting, open 0|1, admitted so far, ms since the first admission, rate, paused 0|1,
--   sold out 0|1, then per ticket: state ('' when unknown), ahead (-1 unless wanted, waiting and open)}
local waiting_key, states_key, meta_key = KEYS[1], KEYS[2], KEYS[3]
local n = tonumber(ARGV[1])

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local meta = redis.call('HMGET', meta_key, 'opens_ms', 'admitted', 'first_admit_ms', 'rate', 'paused', 'sold_out')
local open = now >= tonumber(meta[1] or '0')
local first = tonumber(meta[3] or '')
local reply = {redis.call('ZCARD', waiting_key), open and 1 or 0, tonumber(meta[2] or '0'), first and (now - first) or 0,
               tonumber(meta[4] or '0'), meta[5] == '1' and 1 or 0, meta[6] == '1' and 1 or 0}
if n == 0 then return reply end
local states = redis.call('HMGET', states_key, unpack(ARGV, 2, n + 1))
for i = 1, n do
  local state = states[i] or ''
  local ahead = -1
  if state == 'waiting' and open and ARGV[n + 1 + i] == '1' then
    ahead = redis.call('ZRANK', waiting_key, ARGV[1 + i]) or -1
  end
  reply[#reply + 1] = state
  reply[#reply + 1] = ahead
end
return reply
