// The physical limit of a Redis semaphore: one script to acquire, a plain ZREM to release. Leases
// are members of one sorted set scored by when they expire, so a holder that dies frees its slot
// once its lease runs out. Server time, so clients with skewed clocks agree on what has expired. No
// fairness, no queue of waiters, no validation: a refused acquire returns 0 and the caller decides.
// The Redis semaphore rows compare with it.

/**
 * KEYS[1]  the semaphore's sorted set (member = lease id, score = expiry in ms, server time)
 * ARGV[1]  limit, ARGV[2] lease time in ms, ARGV[3] the new lease's id (unique per holder)
 * Returns 1 if the lease was added, 0 if `limit` unexpired leases are already held.
 * Release: `ZREM KEYS[1] <lease id>`.
 */
export const MINIMAL_SEMAPHORE_ACQUIRE_LUA = `
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(lease))
return 1
`;
