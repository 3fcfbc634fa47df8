-- bucketflow takes of several requests that do not wait, on keys with one limit each (the same
-- limit for every key), in one call: each is taken or refused exactly as take-one.lua with maxWait
-- 0 would, one after the other, in call order. Concurrent consume() calls of one limiter in one
-- tick send this instead of one script each (on a Cluster, one call per hash slot).
-- KEYS        with one key, every request is on it; otherwise request i is on KEYS[i] (a key
--             may come again: its later requests see what the earlier ones took)
-- ARGV[1]     not after, as in take.lua
-- ARGV[2..5]  the limit of every key: 1, capacity, tokens per ms, initial tokens
-- ARGV[6]     the number of requests
-- ARGV[7..]   the tokens (> 0) every request wants; or, one per request, the tokens each wants
-- Reply: one character per request, in order: '1' taken, '0' refused, 'e' its key holds a value
-- that is not a bucket state (the other keys' requests are decided as usual); or 'stale' (take.lua).
local now = server_now()
if too_late(now, ARGV[1]) then return 'stale' end
local c, r, init = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local count = tonumber(ARGV[6])
local same = #ARGV == 7 and tonumber(ARGV[7])
local out = {}
if #KEYS == 1 then
  -- Many callers of one bucket, the common batch: one level, no table per key.
  local last, l, found = load_one(KEYS[1], now, c, r, init)
  if not last then return l end
  local write = not found
  for i = 1, count do
    local n = same or tonumber(ARGV[6 + i])
    if wait_for(l, n, r) == 0 then
      l = l - n
      out[i] = '1'
      write = true
    else
      out[i] = '0'
    end
  end
  if write then save_one(KEYS[1], last, l, c, r, now) end
  return table.concat(out)
end
-- Many keys: all read at once, each written back once.
local raws = read_keys(count)
-- Per key, from its first request: time of the last refill, level (false: not a bucket state),
-- whether to write it back.
local lasts, levels, writes = {}, {}, {}
for i = 1, count do
  local key = KEYS[i]
  local l = levels[key]
  if l == nil then
    local last, found
    last, l, found = refill_one(raws[i], now, c, r, init)
    if last then
      lasts[key], writes[key] = last, not found
    else
      l = false
    end
  end
  if not l then
    out[i] = 'e'
    levels[key] = false
  else
    local n = same or tonumber(ARGV[6 + i])
    if wait_for(l, n, r) == 0 then
      l = l - n
      writes[key] = true
      out[i] = '1'
    else
      out[i] = '0'
    end
    levels[key] = l
  end
end
for i = 1, count do
  local key = KEYS[i]
  if writes[key] then
    save_one(key, lasts[key], levels[key], c, r, now)
    writes[key] = false
  end
end
return table.concat(out)
