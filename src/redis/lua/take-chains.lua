-- bucketflow takes of several requests that do not wait, each on a chain of keys (a bucket, a
-- hierarchy's leaf and its ancestors) with any number of limits per key, in one call: each is
-- taken or refused exactly as take.lua with maxWait 0 would, one after the other, in call order.
-- Concurrent consume() calls of one limiter in one tick send this when take-many.lua cannot
-- carry them (several limits, chains, keys with different limits).
-- KEYS        every key of the batch, once
-- ARGV[1]     not after, as in take.lua
-- ARGV[2]     '1': reply with each decision in full (take()), '0': one character per request
-- ARGV[3..]   per key, in KEYS order: its limits (bucket.lua's layout)
-- then        the number of requests; per request: the tokens it wants (> 0; 0 too in full), the
--             length of its chain, and the index in KEYS of each key of the chain
-- Reply: one character per request, in order: '1' taken, '0' refused, 'e' a key of its chain
-- holds a value that is not a bucket state (the other requests are decided as usual); or 'stale'.
-- In full: an array, per request in order, of that character, then for a decided request the ms
-- until it could pass (0 if taken) and the level of each limit of its chain after the decision
-- (leaf first).
local now = server_now()
if too_late(now, ARGV[1]) then return 'stale' end
local raws = read_keys(#KEYS)
local detail = ARGV[2] == '1'
-- Per key: where its limits start; once a request needs it, its state (false: not a bucket state).
local starts, states = {}, {}
local a = 3
for k = 1, #KEYS do
  starts[k] = a
  a = a + 1 + 3 * tonumber(ARGV[a])
end
local count = tonumber(ARGV[a])
a = a + 1
local out = {}
for i = 1, count do
  local n, len = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local first = a + 2
  a = first + len
  local wait, bad = 0, false
  for j = first, a - 1 do
    local k = tonumber(ARGV[j])
    local b = states[k]
    if b == nil then
      b = refill(KEYS[k], raws[k], starts[k], now) or false
      -- A bucket that starts below capacity starts now, even if nothing is taken (as in take.lua).
      if b then b.write = not b.found end
      states[k] = b
    end
    if b then wait = measure(b, n, wait, math.huge) else bad = true end
  end
  local answer = '0'
  if bad then
    answer = 'e'
  elseif n == 0 then
    answer = '1' -- a take of 0 always passes (as in take.lua), even behind waiters' debt
  elseif wait == 0 then
    for j = first, a - 1 do
      local b = states[tonumber(ARGV[j])]
      for l = 1, #b.levels do b.levels[l] = b.levels[l] - n end
      b.write = true
    end
    answer = '1'
  end
  if not detail then
    out[i] = answer
  else
    out[#out + 1] = answer
    if not bad then
      out[#out + 1] = fmt(wait)
      for j = first, a - 1 do
        local b = states[tonumber(ARGV[j])]
        for l = 1, #b.levels do out[#out + 1] = fmt(b.levels[l]) end
      end
    end
  end
end
for k = 1, #KEYS do
  if states[k] and states[k].write then save(states[k], now) end
end
if detail then return out end
return table.concat(out)
