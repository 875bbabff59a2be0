-- PostgreSQL said these seats are sold (a checkout or a payment found them so) while Redis may
-- still offer them: they join the sold cache, if it is loaded (else the next load reads them).
-- KEYS: 1 sold set, 2 version
-- ARGV: 1 events channel, 2.. seat ids
-- Returns {"repaired", version, added} | {"not_loaded"}
local sold_key, version_key = KEYS[1], KEYS[2]
if redis.call('SISMEMBER', sold_key, 'loaded') == 0 then return {'not_loaded'} end
local delta = {}
for i = 2, #ARGV do
  if redis.call('SADD', sold_key, ARGV[i]) == 1 then
    delta[#delta + 1] = {id = tonumber(ARGV[i]) or ARGV[i], status = 'sold'}
  end
end
if #delta == 0 then
  return {'repaired', tonumber(redis.call('GET', version_key) or '0'), 0}
end
local version = redis.call('INCR', version_key)
redis.call('SPUBLISH', ARGV[1], cjson.encode({version = version, seats = delta}))
return {'repaired', version, #delta}
