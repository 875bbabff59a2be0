-- After PostgreSQL committed a cancellation: the seats leave the sold cache and are free again.
-- KEYS: 1 sold set, 2 version, 3 the cache's epoch
-- ARGV: 1 events channel, 2.. the freed seat ids
-- Returns {"freed", version}
local sold_key, version_key, epoch_key = KEYS[1], KEYS[2], KEYS[3]
local channel = ARGV[1]
local delta = {}
for i = 2, #ARGV do
  redis.call('SREM', sold_key, ARGV[i])
  delta[#delta + 1] = {id = tonumber(ARGV[i]) or ARGV[i], status = 'available'}
end
-- A load that read PostgreSQL before this change would put the seats back: it must read again.
redis.call('INCR', epoch_key)
local version = redis.call('INCR', version_key)
local message = #delta > 0 and cjson.encode({version = version, seats = delta})
  or ('{"version":' .. version .. ',"seats":[]}')
redis.call('PUBLISH', channel, message)
return {'freed', version}
