-- bucketflow take: takes n tokens from every limit of every key, reserves them if they arrive
-- within maxWait, or changes nothing but starting a missing key.
-- KEYS[1..k]  the keys of one chain: one key for a bucket; a hierarchy's leaf, then its ancestors
-- ARGV[1]     not after: server time (ms) past which the caller no longer waits for the answer,
--             or "inf" for none; a take that runs later does nothing and replies 'stale'
-- ARGV[2]     n: tokens wanted (>= 0; 0 is always taken)
-- ARGV[3]     maxWait (ms): 0 takes now or refuses; > 0 may also reserve tokens that arrive
--             within it (the caller owns them after the returned wait); "inf" for no limit
-- ARGV[4..]   the limits of each key, in KEYS order (bucket.lua)
-- Reply: {status, wait, lowest level}: status 1 taken, 2 reserved, 0 refused (an integer); wait,
-- the ms until n tokens are there on every limit ("inf" if never); the lowest level after the
-- take. wait and level are strings (%.17g): a Lua number in a reply is cut to an integer.
local now = server_now()
if too_late(now, ARGV[1]) then return 'stale' end
local n, max_wait = tonumber(ARGV[2]), tonumber(ARGV[3])
local a, wait, low, chain = 4, 0, math.huge, {}
for k = 1, #KEYS do
  local b, err = load(k, a, now)
  if not b then return err end
  a = b.next
  wait, low = measure(b, n, wait, low)
  chain[k] = b
end
local status = decide(wait, n, max_wait)
if status > 0 and n > 0 then
  low = math.huge
  for k = 1, #KEYS do
    local b = chain[k]
    for j = 1, #b.levels do
      b.levels[j] = b.levels[j] - n
      if b.levels[j] < low then low = b.levels[j] end
    end
    save(b, now)
  end
else
  -- Nothing taken, but a bucket that starts below capacity starts now, not at some later call.
  for k = 1, #KEYS do
    if not chain[k].found then save(chain[k], now) end
  end
end
return {status, fmt(wait), fmt(low)}
