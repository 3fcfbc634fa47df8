-- bucketflow refund: gives n tokens back to every limit of every key (an aborted waiter's
-- reservation, what a take got for a caller that had its answer already, or a reward), never
-- above a capacity. Never stale: tokens given back late are still owed. A missing key stays
-- missing: its state, and the reservation with it, is gone already (and a missing key is full).
-- With n < 0 (a penalty) it takes -n from every limit even below 0, a missing key starting at
-- its initial levels first: time pays the debt back.
-- KEYS[1..k]  keys, as in take.lua
-- ARGV[1]     n: tokens to give back (< 0: to take)
-- ARGV[2..]   the limits of each key, in KEYS order (bucket.lua)
-- Reply: the ms until no limit on the chain is below 0, i.e. until every reservation still held
-- is earned (waiters of this chain need not sleep longer), as a string (%.17g).
local now = server_now()
local n, a, clear = tonumber(ARGV[1]), 2, 0
for k = 1, #KEYS do
  local b, err = load(k, a, now)
  if not b then return err end
  a = b.next
  if b.found or n < 0 then
    for j = 1, #b.levels do
      local l, r = math.min(b.levels[j] + n, b.caps[j]), b.rates[j]
      b.levels[j] = l
      if l < 0 and r > 0 and -l / r > clear then clear = -l / r end
    end
    save(b, now)
  end
end
return fmt(clear)
