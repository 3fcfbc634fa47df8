-- bucketflow: what every command script shares. Redis runs one text per script and has no
-- include, so src/redis/scripts.ts assembles each command as this file followed by the command's
-- own file, after one line that defines
--   EPSILON  the float slack of every token comparison (a hair of a token, so that 0.1 + 0.2
--            tokens cover 0.3): the local buckets' EPSILON from src/core/refill.ts, so that a
--            Redis bucket and a local one admit exactly alike.
--
-- A bucket key holds a short binary string: the byte 1 (the format), then little-endian doubles:
-- the server time (ms) of the last write, then one level per limit. A level below 0 is tokens
-- reserved by waiters that sleep until time has earned them. Doubles are read and written exactly
-- and far faster than numbers in text; one GET (or one MGET for many keys) and one SET per key.
-- A missing key is a bucket at its initial levels.
--
-- Redis runs the whole text on every call, so each function below is made anew on every call:
-- they are kept few.
--
-- Every script takes the limits in one layout, from some ARGV index on: per key in KEYS order,
-- m (the key's number of limits), then m times capacity, fill rate (tokens per ms), initial tokens.

-- The longest expiry set (ms): 2^46 ms, about 2,230 years: "never", for a bucket whose fill rate
-- is so slow that it would take longer to fill (an infinite fill time, capacity over a rate that
-- is nearly 0, included). Redis itself refuses far less: SET takes an integer expiry that fits in
-- 64 bits, and string.format('%d') of a Lua number is exact only below 2^53; server time plus this
-- cap stays a plain integer, far from both.
local MAX_PX = 70368744177664

local function fmt(x) return string.format('%.17g', x) end

-- Server time in ms, to the microsecond: the one clock every process shares.
local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end

-- A take that runs after its caller stopped waiting (src/redis/server-clock.ts) must change
-- nothing. not_after: server ms as a string, or "inf" for never (tonumber parses "inf").
local function too_late(now, not_after)
  return now > tonumber(not_after)
end

-- ms until level l has n tokens at r tokens per ms: 0 if it has them now, math.huge if never.
local function wait_for(l, n, r)
  if l + EPSILON >= n then return 0 end
  if r > 0 then return (n - l) / r end
  return math.huge
end

-- What a take of n tokens that would wait `wait` ms does: 1 take now (n = 0 always can),
-- 2 reserve (tokens that arrive within max_wait ms), 0 refuse.
local function decide(wait, n, max_wait)
  if wait == 0 or n == 0 then return 1 end
  if wait < math.huge and wait <= max_wait then return 2 end
  return 0
end

-- ms until level l is back at capacity c at r tokens per ms: 0 if it is, -1 if never (r = 0).
local function full_in(l, c, r)
  if r == 0 then return -1 end
  if l >= c then return 0 end
  return (c - l) / r
end

-- Expiry times (ms) already written as text, within this call: Redis formats a number argument
-- with %.17g on every call, which costs more than the SET itself; keys of a batch often share one.
local expiry_texts = {}

-- Writes a state that is full again in `full` ms (as full_in) from now. A full bucket is the same
-- as no key at all, so it is deleted; otherwise the key expires when full (an idle bucket costs no
-- memory), except with a fill rate of 0: a fixed quota must not reset. The expiry is absolute
-- (PXAT, on the clock TIME reads): Redis keeps a relative one only after rewriting it as such.
local function store(key, value, full, now)
  if full == 0 then
    redis.call('DEL', key)
  elseif full < 0 then
    redis.call('SET', key, value)
  else
    -- At least the next ms (an expiry at or before now would delete the key at once), at most
    -- MAX_PX ms on (full may be infinite).
    local ms = math.floor(now)
    local at = math.min(math.max(math.ceil(now + full), ms + 1), ms + MAX_PX)
    local text = expiry_texts[at]
    if not text then
      text = string.format('%d', at)
      expiry_texts[at] = text
    end
    redis.call('SET', key, value, 'PXAT', text)
  end
end

local function not_a_state(key)
  return redis.error_reply('bucketflow: key ' .. key .. ' holds a value that is not a bucket state')
end

-- Whether raw (a GET reply) is a bucket state with at least `levels` levels: its length and format byte.
local function is_state(raw, levels)
  local count = (#raw - 1) / 8
  return count >= levels + 1 and count % 1 == 0 and string.byte(raw) == 1
end

-- The state raw (a GET reply: false for a missing key) of a key with one limit (capacity c, r
-- tokens per ms, initial level init), refilled to now; a clock that stepped back adds nothing.
-- Returns last (ms), level, found; or nil for a value that is not a bucket state. Scalars only:
-- the one-limit scripts are the hot path, and tables cost.
local function refill_one(raw, now, c, r, init)
  local last, l, found = now, init, false
  if raw then
    if not is_state(raw, 1) then return nil end
    last, l = struct.unpack('<dd', raw, 2)
    -- x - x is 0 for finite numbers only
    if last - last ~= 0 or l - l ~= 0 then return nil end
    found = true
  end
  if now > last then
    l = l + (now - last) * r
    last = now
  end
  if l > c then l = c end
  return last, l, found
end

-- refill_one of a key read now; a value that is not a bucket state is nil and an error reply.
local function load_one(key, now, c, r, init)
  local last, l, found = refill_one(redis.call('GET', key), now, c, r, init)
  if not last then return nil, not_a_state(key) end
  return last, l, found
end

-- Writes back what refill_one read (last, level l), with its expiry.
local function save_one(key, last, l, c, r, now)
  store(key, struct.pack('<Bdd', 1, last, l), full_in(l, c, r), now)
end

-- The state raw (a GET reply: false for a missing key) of `key`, whose limits start at ARGV[a],
-- refilled to now: a table with key, found, last, and per limit levels, caps, rates; next is the
-- ARGV index of the next key's limits. Returns nil and an error reply for a value that is not a
-- bucket state.
local function refill(key, raw, a, now)
  local m = tonumber(ARGV[a])
  local b = {key = key, levels = {}, caps = {}, rates = {}, last = now, found = false}
  local stored = {}
  if raw then
    if not is_state(raw, 1) then return nil, not_a_state(key) end
    local pos = 2
    for i = 0, (#raw - 1) / 8 - 1 do
      local v
      v, pos = struct.unpack('<d', raw, pos)
      if v - v ~= 0 then return nil, not_a_state(key) end -- not a finite number (as in refill_one)
      stored[i] = v
    end
    b.last, b.found = stored[0], true
  end
  local elapsed = now - b.last
  if elapsed < 0 then elapsed = 0 else b.last = now end
  for j = 1, m do
    local c, r = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    local l = (stored[j] or tonumber(ARGV[a + 3])) + elapsed * r
    if l > c then l = c end
    b.levels[j], b.caps[j], b.rates[j] = l, c, r
    a = a + 3
  end
  b.next = a + 1
  return b
end

-- refill of KEYS[k] read now.
local function load(k, a, now)
  return refill(KEYS[k], redis.call('GET', KEYS[k]), a, now)
end

-- GET replies of KEYS[1..count], read by one MGET (a batch holds a few dozen requests, far from
-- what unpack can pass).
local function read_keys(count)
  return redis.call('MGET', unpack(KEYS, 1, count))
end

-- Formats of the states of 1 to 4 limits, for save; struct.pack takes a format per call.
local FORMATS = {'<Bdd', '<Bddd', '<Bdddd', '<Bddddd'}

-- Writes back a state read by load (at server time now), expiring when its last limit is full again.
local function save(b, now)
  local full = 0
  for j = 1, #b.levels do
    local f = full_in(b.levels[j], b.caps[j], b.rates[j])
    if f < 0 then
      full = -1
    elseif full >= 0 and f > full then
      full = f
    end
  end
  local m = #b.levels
  store(b.key, struct.pack(FORMATS[m] or ('<B' .. string.rep('d', m + 1)), 1, b.last, unpack(b.levels)), full, now)
end

-- Folds the limits of state b into (wait, low): the longest wait for n tokens, the lowest level.
local function measure(b, n, wait, low)
  for j = 1, #b.levels do
    local l = b.levels[j]
    local w = wait_for(l, n, b.rates[j])
    if w > wait then wait = w end
    if l < low then low = l end
  end
  return wait, low
end
