-- After PostgreSQL committed a showtime's cancellation: the mark every hold script checks, so
-- no instance takes another hold; live clients hear it. The showtime's holds are released next.
-- KEYS: 1 sold set, 2 version
-- ARGV: 1 events channel
-- Returns {"closed", version}
local sold_key, version_key = KEYS[1], KEYS[2]
redis.call('SADD', sold_key, 'closed')
local version = redis.call('INCR', version_key)
redis.call('SPUBLISH', ARGV[1], '{"version":' .. version .. ',"seats":[],"showtime_status":"cancelled"}')
return {'closed', version}
