// The physical limit of a Redis bucket with two limits on one key: one script, server time, one
// hash read, one write, an expiry, both limits charged all or nothing. No validation, no staleness
// check, no list of limits to walk. The two-limit Redis rows compare with it.

/**
 * KEYS[1]  the bucket's hash (fields a, b = the two levels, t = time of last refill in ms)
 * ARGV[1]  first capacity, ARGV[2] its tokens per millisecond (> 0),
 * ARGV[3]  second capacity, ARGV[4] its tokens per millisecond (> 0), ARGV[5] tokens requested
 * Returns 1 if the tokens were taken from both limits, 0 if from neither.
 */
export const MINIMAL_TWO_LIMIT_LUA = `
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local cap_a, rate_a = tonumber(ARGV[1]), tonumber(ARGV[2])
local cap_b, rate_b = tonumber(ARGV[3]), tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local s = redis.call('HMGET', KEYS[1], 'a', 'b', 't')
local a = tonumber(s[1]) or cap_a
local b = tonumber(s[2]) or cap_b
local last = tonumber(s[3]) or now
if now > last then
  a = math.min(cap_a, a + (now - last) * rate_a)
  b = math.min(cap_b, b + (now - last) * rate_b)
end
local ok = 0
if a >= n and b >= n then
  a = a - n
  b = b - n
  ok = 1
end
redis.call('HSET', KEYS[1], 'a', a, 'b', b, 't', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(math.max((cap_a - a) / rate_a, (cap_b - b) / rate_b)) + 1)
return ok
`;
