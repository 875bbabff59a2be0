-- Staff control of a showtime's waiting room: pause or resume, and the rates; and its figures.
-- KEYS: 1 waiting, 2 active, 3 meta
-- ARGV: 1 paused ('' keep, '1', '0'), 2 active shoppers at most ('' keep, '-' from the seats
--       left, or a number), 3 admissions per second ('' keep, '-' default, or a number)
-- Returns {waiting, active, admitted, paused 0|1, sold out 0|1, max active ('' = from seats),
--   rate ('' = default), joined}
local waiting_key, active_key, meta_key = KEYS[1], KEYS[2], KEYS[3]
if ARGV[1] ~= '' then redis.call('HSET', meta_key, 'paused', ARGV[1]) end
if ARGV[2] == '-' then redis.call('HDEL', meta_key, 'max_active') elseif ARGV[2] ~= '' then redis.call('HSET', meta_key, 'max_active', ARGV[2]) end
if ARGV[3] == '-' then redis.call('HDEL', meta_key, 'rate') elseif ARGV[3] ~= '' then redis.call('HSET', meta_key, 'rate', ARGV[3]) end
return {redis.call('ZCARD', waiting_key), redis.call('ZCARD', active_key),
        tonumber(redis.call('HGET', meta_key, 'admitted') or '0'),
        redis.call('HGET', meta_key, 'paused') == '1' and 1 or 0,
        redis.call('HGET', meta_key, 'sold_out') == '1' and 1 or 0,
        redis.call('HGET', meta_key, 'max_active') or '', redis.call('HGET', meta_key, 'rate') or '',
        tonumber(redis.call('HGET', meta_key, 'joined') or '0')}
