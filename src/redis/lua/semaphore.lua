-- bucketflow semaphore: what every semaphore script (semaphore-*.lua) shares; src/redis/scripts.ts
-- puts the functions a command uses before the command's own text. Every command has the same KEYS:
--   KEYS[1]  leases: sorted set, lease id -> server time (ms) the lease expires at
--   KEYS[2]  queue: sorted set, waiter id -> arrival ticket (1, 2, ...): served in this order
--   KEYS[3]  alive: sorted set, waiter id -> server time (ms) after which the waiter counts as gone
-- A lease whose time has passed is no lease; a waiter not heard from in time (its process died, or
-- lost Redis for a while) leaves the queue, so it never blocks those behind it. Each key expires
-- with the last thing it holds: idle semaphores cost no memory.
--
-- Wake-ups: when a slot frees, the script that freed it publishes the ids of the waiters whose
-- turn has come (space-separated) on the channel named like KEYS[1]; their processes ask for them.

-- Server time in ms, to the microsecond: the one clock every process shares.
local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end

-- Removes members in chunks: unpack of a long list would overflow Lua's stack.
local function zrem_all(key, ids)
  for i = 1, #ids, 1000 do
    redis.call('ZREM', key, unpack(ids, i, math.min(i + 999, #ids)))
  end
end

-- Drops expired leases and gone waiters; returns how many of either there were.
local function purge(now)
  local dropped = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
  if #gone > 0 then
    zrem_all(KEYS[3], gone)
    zrem_all(KEYS[2], gone)
  end
  return dropped + #gone
end

-- Sets `key` to expire when the last score of `scores` (a server time) has passed.
local function expire_with(key, scores)
  local last = redis.call('ZRANGE', scores, -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', key, string.format('%d', math.ceil(tonumber(last[2])))) end
end

-- Tells the waiters whose turn has come (the first `free` in the queue) that it has.
local function wake(limit)
  local free = limit - redis.call('ZCARD', KEYS[1])
  if free <= 0 then return end
  local turn = redis.call('ZRANGE', KEYS[2], 0, free - 1)
  if #turn > 0 then redis.call('PUBLISH', KEYS[1], table.concat(turn, ' ')) end
end
