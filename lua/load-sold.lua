-- Fills the sold cache from PostgreSQL's rows when it is missing (first use, or after Redis
-- lost its data). Harmless when another instance loaded it first.
-- KEYS: 1 sold set, 2 version
-- ARGV: the sold seat ids
-- Returns {"loaded", version} | {"already", version}
local sold_key, version_key = KEYS[1], KEYS[2]
if redis.call('SISMEMBER', sold_key, 'loaded') == 1 then
  return {'already', tonumber(redis.call('GET', version_key) or '0')}
end
for i = 1, #ARGV, 1000 do
  redis.call('SADD', sold_key, unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('SADD', sold_key, 'loaded')
-- A fresh cache may follow a loss of Redis' data, version included: jump the version past
-- any a client could still hold (Redis' clock in ms), so no stale ETag ever matches.
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local version = redis.call('INCR', version_key)
if version < now_ms then
  redis.call('SET', version_key, now_ms)
  version = now_ms
end
return {'loaded', version}
