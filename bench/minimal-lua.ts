// The physical limit of a Redis token bucket: one script, server time, one hash read, one write,
// an expiry. No validation, no hierarchy, no fractional-string return. Redis rows compare with it.

/**
 * KEYS[1]  the bucket's hash (fields v = level, t = time of last refill in ms)
 * ARGV[1]  capacity, ARGV[2] tokens per millisecond (> 0), ARGV[3] tokens requested
 * Returns 1 if the tokens were taken, 0 if not.
 */
export const MINIMAL_BUCKET_LUA = `
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'v', 't')
local level = tonumber(s[1]) or cap
local last = tonumber(s[2]) or now
if now > last then
  level = math.min(cap, level + (now - last) * rate)
end
local ok = 0
if level >= n then
  level = level - n
  ok = 1
end
redis.call('HSET', KEYS[1], 'v', level, 't', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((cap - level) / rate) + 1)
return ok
`;

/** The smallest script there is: what EVALSHA itself costs on the server. */
export const RETURN_ONE_LUA = 'return 1';
