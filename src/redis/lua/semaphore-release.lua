-- bucketflow semaphore release: leases given back and waiters that gave up, of one process.
-- KEYS     as semaphore.lua: leases, queue, alive
-- ARGV[1]  limit (most leases at once)
-- ARGV[2..] ids: each leaves the leases and the queue, whichever holds it
-- Then the waiters whose turn has come are woken.
-- Reply: one character per id, '1' it held a lease that had not expired, '0' it did not.
local now = server_now()
purge(now)
local answers = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  answers[#answers + 1] = redis.call('ZREM', KEYS[1], id) == 1 and '1' or '0'
  if redis.call('ZREM', KEYS[2], id) == 1 then redis.call('ZREM', KEYS[3], id) end
end
wake(tonumber(ARGV[1]))
return table.concat(answers)
