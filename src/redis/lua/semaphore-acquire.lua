-- bucketflow semaphore acquire: several requests of one process, decided in order.
-- KEYS     as semaphore.lua: leases, queue, alive
-- ARGV[1]  limit (most leases at once)
-- ARGV[2]  lease time (ms): a lease granted now expires this long from now unless extended
-- ARGV[3]  waiter time (ms): a waiter not heard from for this long counts as gone
-- ARGV[4]  not after: server time (ms) after which this call changes nothing ("inf": never);
--          its callers have stopped waiting by then
-- ARGV[5..] per request: its mode, then its id (unique per request and process)
--   't' try: a lease now, or refused (never queued)
--   'w' wait: a lease now, or queued at the back
--   'p' poll, by a queued waiter: a lease if its turn has come, else still queued and alive; one
--       that counted as gone queues again at the back; one that already holds a lease (the reply
--       that granted it was lost) keeps it
-- A request gets a lease when fewer waiters are ahead of it than there are free slots.
-- Reply: {answers, wait}: one character per request, '1' a lease, '0' refused or queued; and, if
-- any was, the ms until the earliest lease expires, when a slot frees unless its holder acts
-- ("inf" if none, or if every request got a lease).
-- Or 'stale' (run after not after: nothing changed).
local now = server_now()
if now > tonumber(ARGV[4]) then return 'stale' end
local dropped = purge(now)
local leases, queue, alive = KEYS[1], KEYS[2], KEYS[3]
local limit = tonumber(ARGV[1])
local lease_until = now + tonumber(ARGV[2])
local alive_until = now + tonumber(ARGV[3])
local held = redis.call('ZCARD', leases)
local queued = redis.call('ZCARD', queue)
local ticket = nil
local answers = {}
local granted, waiting, refused = false, false, false
for i = 5, #ARGV, 2 do
  local mode, id = ARGV[i], ARGV[i + 1]
  local answer = '0'
  if mode == 'p' and redis.call('ZSCORE', leases, id) then
    answer = '1'
  else
    local rank = mode == 'p' and redis.call('ZRANK', queue, id)
    if rank then
      if rank < limit - held then
        redis.call('ZREM', queue, id)
        redis.call('ZREM', alive, id)
        queued = queued - 1
        answer = '1'
      end
    elseif queued < limit - held then
      answer = '1'
    elseif mode ~= 't' then
      if not ticket then
        local last = redis.call('ZRANGE', queue, -1, -1, 'WITHSCORES')
        ticket = (tonumber(last[2]) or 0) + 1
      end
      redis.call('ZADD', queue, ticket, id)
      ticket = ticket + 1
      queued = queued + 1
    end
    if answer == '1' then
      redis.call('ZADD', leases, lease_until, id)
      held = held + 1
      granted = true
    elseif mode ~= 't' then
      redis.call('ZADD', alive, alive_until, id)
      waiting = true
    else
      refused = true
    end
  end
  answers[#answers + 1] = answer
end
if granted then expire_with(leases, leases) end
if waiting then
  local at = string.format('%d', math.ceil(alive_until))
  redis.call('PEXPIREAT', queue, at)
  redis.call('PEXPIREAT', alive, at)
end
-- Slots freed by expired leases or gone waiters: tell the waiters whose turn it now is.
if dropped > 0 then wake(limit) end
-- Only a caller still waiting needs the wait (the common answer, all granted, skips the read).
local wait = 'inf'
if refused or waiting then
  local first = redis.call('ZRANGE', leases, 0, 0, 'WITHSCORES')
  if first[2] then wait = string.format('%.17g', math.max(0, tonumber(first[2]) - now)) end
end
return {table.concat(answers), wait}
