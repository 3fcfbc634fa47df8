-- bucketflow peek: what a take would see, changing nothing (no write, not even a missing key's
-- start), so it is defined read-only and may run on a replica.
-- KEYS[1..k]  keys, as in take.lua
-- ARGV[1]     n: tokens (>= 0)
-- ARGV[2..]   the limits of each key, in KEYS order (bucket.lua)
-- Reply: {wait, lowest level}, both strings (%.17g): the ms until n tokens are there on every
-- limit ("inf" if never; 0 for n = 0), and the lowest level now (below 0 while waiters hold
-- reservations).
local now = server_now()
local n, a, wait, low = tonumber(ARGV[1]), 2, 0, math.huge
for k = 1, #KEYS do
  local b, err = load(k, a, now)
  if not b then return err end
  a = b.next
  wait, low = measure(b, n, wait, low)
end
return {fmt(wait), fmt(low)}
