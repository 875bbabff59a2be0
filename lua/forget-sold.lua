-- Drops the sold cache after Redis may have missed a change that PostgreSQL committed, so the
-- next reader rebuilds it; the epoch moves, so a load that read PostgreSQL before now is refused.
-- KEYS: 1 sold set, 2 the cache's epoch
-- Returns {"forgotten", epoch}
redis.call('DEL', KEYS[1])
return {'forgotten', redis.call('INCR', KEYS[2])}
