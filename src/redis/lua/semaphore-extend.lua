-- bucketflow semaphore extend: renews leases.
-- KEYS     as semaphore.lua: leases, queue, alive
-- ARGV[1]  lease time (ms): each lease still held expires this long from now
-- ARGV[2..] lease ids
-- Reply: one character per id, '1' renewed, '0' not held (expired or released: it is lost; an
-- expired lease is never revived, its slot may be someone else's already).
local now = server_now()
local lease_until = now + tonumber(ARGV[1])
local answers = {}
for i = 2, #ARGV do
  local expires = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i]))
  if expires and expires > now then
    redis.call('ZADD', KEYS[1], 'XX', lease_until, ARGV[i])
    answers[#answers + 1] = '1'
  else
    answers[#answers + 1] = '0'
  end
end
expire_with(KEYS[1], KEYS[1])
return table.concat(answers)
