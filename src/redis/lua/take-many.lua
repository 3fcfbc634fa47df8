-- bucketflow takes of several requests that do not wait, on keys with one limit each (the same
-- limit for every key), in one call: each is taken or refused exactly as take-one.lua with maxWait
-- 0 would, one after the other, in call order. Concurrent consume() calls of one limiter in one
-- tick send this instead of one script each (on a Cluster, one call per hash slot).
-- KEYS[1..k]  the buckets' keys, each once
-- ARGV[1]     not after, as in take.lua
-- ARGV[2..5]  the limit of every key: 1, capacity, tokens per ms, initial tokens
-- ARGV[6..]   per request, in call order: with one key, the tokens it wants (> 0); with several,
--             the index of its key in KEYS, then the tokens it wants
-- Reply: one character per request, in order: '1' taken, '0' refused, 'e' its key holds a value
-- that is not a bucket state (the other keys' requests are decided as usual); or 'stale' (take.lua).
local now = server_now()
if too_late(now, ARGV[1]) then return 'stale' end
local c, r, init = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {}
if #KEYS == 1 then
  -- Many callers of one bucket, the common batch: one level, no table per key.
  local last, l, found = load_one(KEYS[1], now, c, r, init)
  if not last then return l end
  local write = not found
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
  if write then save_one(KEYS[1], last, l, c, r) end
  return table.concat(out)
end
-- Per key, loaded at its first request: time of the last refill, level, whether to write it back.
local lasts, levels, writes, bad = {}, {}, {}, {}
for i = 6, #ARGV, 2 do
  local k, n = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local o = (i - 4) / 2
  if levels[k] == nil and not bad[k] then
    local last, l, found = load_one(KEYS[k], now, c, r, init)
    if last then
      lasts[k], levels[k], writes[k] = last, l, not found
    else
      bad[k] = true
    end
  end
  if bad[k] then
    out[o] = 'e'
  elseif wait_for(levels[k], n, r) == 0 then
    levels[k] = levels[k] - n
    writes[k] = true
    out[o] = '1'
  else
    out[o] = '0'
  end
end
for k = 1, #KEYS do
  if writes[k] then save_one(KEYS[k], lasts[k], levels[k], c, r) end
end
return table.concat(out)
