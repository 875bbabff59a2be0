-- A shopper leaves a showtime's waiting room: gave up, or booked (their place goes to the next).
-- KEYS: 1 waiting, 2 active, 3 owners, 4 tickets of users, 5 states
-- ARGV: 1 ticket ('' = the user's current one), 2 user, 3 final state (left | done)
-- Returns {"left", ticket} | {"unknown"}
local waiting_key, active_key, owners_key, users_key, states_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ticket, user, final = ARGV[1], ARGV[2], ARGV[3]
if ticket == '' then ticket = redis.call('HGET', users_key, user) end
if not ticket or redis.call('HGET', owners_key, ticket) ~= user then return {'unknown'} end
redis.call('ZREM', waiting_key, ticket)
redis.call('ZREM', active_key, ticket)
redis.call('HSET', states_key, ticket, final)
if redis.call('HGET', users_key, user) == ticket then redis.call('HDEL', users_key, user) end
return {'left', ticket}
