-- bucketflow take of several requests that do not wait, on one key with one limit, in one call:
-- each is taken or refused exactly as take-one.lua with maxWait 0 would, one after the other, in
-- order. Concurrent consume() calls on one bucket send this instead of one script each.
-- KEYS[1]  the bucket's key
-- ARGV[1]  not after, as in take.lua
-- ARGV[2..5]  the key's limits: 1, capacity, tokens per ms, initial tokens
-- ARGV[6..]   the tokens each request wants (> 0)
-- Reply: one character per request, in order: '1' taken, '0' refused; or 'stale' (take.lua).
local now = server_now()
if too_late(now, ARGV[1]) then return 'stale' end
local key, c, r = KEYS[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local last, l, found = load_one(key, now, c, r, tonumber(ARGV[5]))
if not last then return l end
local out, write = {}, not found
for i = 6, #ARGV do
  local n = tonumber(ARGV[i])
  if wait_for(l, n, r) == 0 then
    l = l - n
    out[i - 5] = '1'
    write = true
  else
    out[i - 5] = '0'
  end
end
if write then save_one(key, last, l, c, r) end
return table.concat(out)
