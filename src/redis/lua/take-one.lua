-- bucketflow take of one key with one limit (a plain bucket, a keyed bucket): take.lua without
-- its tables, which cost a large share of the server's time per call. Same stored state.
-- KEYS[1]  the bucket's key
-- ARGV     as take.lua: not after, n, maxWait, then the key's limits: 1, capacity, tokens per ms,
--          initial tokens
-- Reply: as take.lua, except that a take of n > 0 tokens that succeeds replies the integer 1
-- alone (the common answer: nothing to format here, nothing to parse in the client).
local now = server_now()
if too_late(now, ARGV[1]) then return 'stale' end
local key, n, max_wait = KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local c, r = tonumber(ARGV[5]), tonumber(ARGV[6])
local last, l, found = load_one(key, now, c, r, tonumber(ARGV[7]))
if not last then return l end
local wait = wait_for(l, n, r)
local status = decide(wait, n, max_wait)
if status > 0 and n > 0 then
  l = l - n
  save_one(key, last, l, c, r, now)
  if status == 1 then return 1 end
elseif not found then
  -- Nothing taken, but a bucket that starts below capacity starts now (as in take.lua).
  save_one(key, last, l, c, r, now)
end
return {status, fmt(wait), fmt(l)}
