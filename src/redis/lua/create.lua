-- bucketflow create: starts the buckets Redis holds no state for at their initial levels, as of
-- server time now (as a local bucket starts when it is made, not at its first request). A key
-- that exists is left as it is.
-- KEYS[1..k]  keys, as in take.lua
-- ARGV[1..]   the limits of each key, in KEYS order (bucket.lua)
-- Reply: the number of keys that were missing.
local now = server_now()
local a, missing = 1, 0
for k = 1, #KEYS do
  local b, err = load(k, a, now)
  if not b then return err end
  a = b.next
  if not b.found then
    save(b, now)
    missing = missing + 1
  end
end
return missing
