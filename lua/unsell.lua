-- After PostgreSQL committed a cancellation: the seats leave the sold cache and are free again.
-- KEYS: 1 sold set, 2 version, 3 the cache's epoch, 4 each seat's last applied row version (hash)
-- ARGV: 1 events channel, 2.. pairs of freed seat id and the version its row reached when
--       freed ('' = unversioned: always applied)
-- A seat changes only for a version newer than the last applied (see confirm.lua).
-- Returns {"freed", version}
local sold_key, version_key, epoch_key, versions_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local channel = ARGV[1]
local delta = {}
for i = 2, #ARGV, 2 do
  local seat, row_version = ARGV[i], tonumber(ARGV[i + 1])
  local applied = tonumber(redis.call('HGET', versions_key, seat) or '-1')
  if not row_version or row_version > applied then
    redis.call('SREM', sold_key, seat)
    if row_version then redis.call('HSET', versions_key, seat, row_version) end
    delta[#delta + 1] = {id = tonumber(seat) or seat, status = 'available'}
  end
end
-- A load that read PostgreSQL before this change would put the seats back: it must read again.
redis.call('INCR', epoch_key)
local version = redis.call('INCR', version_key)
local message = #delta > 0 and cjson.encode({version = version, seats = delta})
  or ('{"version":' .. version .. ',"seats":[]}')
redis.call('SPUBLISH', channel, message)
return {'freed', version}
