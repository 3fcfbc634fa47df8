-- bucketflow semaphore count (read-only): leases held and waiters queued now.
-- KEYS     as semaphore.lua: leases, queue, alive
-- ARGV     none
-- Reply: {leases not expired, waiters not gone}
local now = server_now()
return {redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%.17g', now), '+inf'),
  redis.call('ZCOUNT', KEYS[3], '(' .. string.format('%.17g', now), '+inf')}
