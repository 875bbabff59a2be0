-- Fills the sold cache from PostgreSQL's rows when it is missing (first use, after Redis lost
-- its data, or after a repair dropped it). Harmless when another instance loaded it first.
-- KEYS: 1 sold set, 2 version, 3 the cache's epoch (bumped whenever seats may have left it)
-- ARGV: 1 the epoch read before PostgreSQL was read ('' = do not check), 2 '1' when the showtime is cancelled,
--       3.. the sold seat ids
-- Returns {"loaded", version} | {"already", version}
--       | {"stale"} when the epoch moved since: a seat may have been freed, or the cache dropped
--         for a sale the read may have missed, after PostgreSQL was read; read it again.
local sold_key, version_key, epoch_key = KEYS[1], KEYS[2], KEYS[3]
if redis.call('SISMEMBER', sold_key, 'loaded') == 1 then
  return {'already', tonumber(redis.call('GET', version_key) or '0')}
end
if ARGV[1] ~= '' and (redis.call('GET', epoch_key) or '0') ~= ARGV[1] then
  return {'stale'}
end
for i = 3, #ARGV, 1000 do
  redis.call('SADD', sold_key, unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if ARGV[2] == '1' then redis.call('SADD', sold_key, 'closed') end
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
