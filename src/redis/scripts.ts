// The Lua scripts every Redis bucket runs. Each state change is one script: Redis runs it
// atomically on its single thread, so check-then-write needs no lock and no second round trip.
//
// Stored value of one bucket key: "<ms> <level> [<level> ...]": the server time (ms, 3 decimals)
// of the last write and one level per limit. A level below 0 is tokens reserved by waiters that
// sleep until time has earned them. A short string keeps memory per key small and needs one GET
// and one SET (with PX) per key.

import { createHash } from 'node:crypto';

// A take that runs after its caller stopped waiting (see server-clock.ts) changes nothing and
// answers 'stale'. ARGV[1] is that moment in server time (ms), or "inf" for none.
const STALE_CHECK = `
if now > tonumber(ARGV[1]) then return 'stale' end
`;

// Shared by both scripts: read one key's state refilled to server time, and write it back with an
// expiry at the moment it would be full again (an idle bucket then costs no memory). A missing key
// is a bucket at its initial levels. A clock that stepped back adds nothing.
const HELPERS = `
local function fmt(x) return string.format('%.17g', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000

local function load(k, a)
  local m = tonumber(ARGV[a])
  local b = {levels = {}, caps = {}, rates = {}, last = now, found = false}
  local stored, i = {}, 0
  local raw = redis.call('GET', KEYS[k])
  if raw then
    for f in string.gmatch(raw, '[^ ]+') do
      local v = tonumber(f)
      -- v - v is 0 for finite numbers only ("inf", "nan" and "1e400" parse as numbers in Lua)
      if v == nil or v - v ~= 0 then i = -1 break end
      stored[i] = v
      i = i + 1
    end
    if i < 2 then return nil, 'bucketflow: key ' .. KEYS[k] .. ' holds a value that is not a bucket state' end
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

local function save(k, b)
  local parts, ttl = {string.format('%.3f', b.last)}, 0
  for j = 1, #b.levels do
    parts[j + 1] = fmt(b.levels[j])
    if b.rates[j] == 0 then
      ttl = -1
    elseif ttl >= 0 then
      local full = (b.caps[j] - b.levels[j]) / b.rates[j]
      if full > ttl then ttl = full end
    end
  end
  if ttl == 0 then -- full: the same as no key at all
    redis.call('DEL', KEYS[k])
    return
  end
  local v = table.concat(parts, ' ')
  if ttl < 0 then
    redis.call('SET', KEYS[k], v)
  else
    redis.call('SET', KEYS[k], v, 'PX', math.min(math.max(1, math.ceil(ttl)), 70368744177664))
  end
end
`;

/**
 * Takes `n` tokens from every limit of every key, reserves them if they arrive within `maxWait`,
 * or changes nothing.
 */
export const TAKE_LUA = `-- bucketflow take
-- KEYS[1..k]  the keys of one chain: one key for a bucket; a hierarchy's leaf, then its ancestors
-- ARGV[1]     not after: server time (ms) past which the caller no longer waits for this answer
--             ("inf": no such time); later, nothing is done and the reply is 'stale'
-- ARGV[2]     n: tokens wanted (0 only creates a missing key that starts below capacity)
-- ARGV[3]     maxWait (ms): 0 = take now or refuse; > 0 = may also reserve tokens that arrive
--             within it (the caller owns them after the returned wait); -1 = only report, no write
-- ARGV[4..]   per key in KEYS order: m (its number of limits), then m times
--             capacity, fill rate (tokens per ms), initial tokens
-- Returns {status, wait, lowest level}: status 1 taken, 2 reserved, 0 refused or report only;
-- wait = ms until n are there (the longest over every limit; "inf" if never). Numbers are strings.
${HELPERS}
${STALE_CHECK}
local n, maxWait = tonumber(ARGV[2]), tonumber(ARGV[3])
local a, wait, low, chain = 4, 0, math.huge, {}
for k = 1, #KEYS do
  local b, err = load(k, a)
  if err then return redis.error_reply(err) end
  a = b.next
  for j = 1, #b.levels do
    local l, r = b.levels[j], b.rates[j]
    if l + 1e-9 < n then
      local w = math.huge
      if r > 0 then w = (n - l) / r end
      if w > wait then wait = w end
    end
    if l < low then low = l end
  end
  chain[k] = b
end
local status = 0
if maxWait >= 0 then
  if wait == 0 or n == 0 then status = 1 elseif wait < math.huge and wait <= maxWait then status = 2 end
end
if status > 0 and n > 0 then
  low = math.huge
  for k = 1, #KEYS do
    local b = chain[k]
    for j = 1, #b.levels do
      b.levels[j] = b.levels[j] - n
      if b.levels[j] < low then low = b.levels[j] end
    end
    save(k, b)
  end
elseif maxWait >= 0 then
  -- Nothing taken, but a bucket that starts below capacity starts now, not at some later call.
  for k = 1, #KEYS do
    if not chain[k].found then save(k, chain[k]) end
  end
end
return {status, fmt(wait), fmt(low)}
`;

// One key with one limit, read and written without the general script's tables: LOAD needs the
// locals c, r, init (capacity, tokens per ms, initial tokens) and sets now, last, l (the level
// refilled to now) and found; SAVE writes last and l back, with the expiry, if `write` is true.
const ONE_KEY_LOAD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
${STALE_CHECK}local last, l, found = now, nil, false
local raw = redis.call('GET', KEYS[1])
if raw then
  local sp = string.find(raw, ' ', 1, true)
  if sp then
    local sp2 = string.find(raw, ' ', sp + 1, true)
    last, l = tonumber(string.sub(raw, 1, sp - 1)), tonumber(string.sub(raw, sp + 1, (sp2 or 0) - 1))
  end
  -- x - x is 0 for finite numbers only ("inf", "nan" and "1e400" parse as numbers in Lua)
  if last == nil or l == nil or last - last ~= 0 or l - l ~= 0 then
    return redis.error_reply('bucketflow: key ' .. KEYS[1] .. ' holds a value that is not a bucket state')
  end
  found = true
else
  l = init
end
if now > last then
  l = l + (now - last) * r
  last = now
end
if l > c then l = c end
`;

const ONE_KEY_SAVE = `
if write then
  if r == 0 then
    redis.call('SET', KEYS[1], string.format('%.3f %.17g', last, l))
  elseif l >= c then -- full: the same as no key at all
    redis.call('DEL', KEYS[1])
  else
    local ttl = math.min(math.max(1, math.ceil((c - l) / r)), 70368744177664)
    redis.call('SET', KEYS[1], string.format('%.3f %.17g', last, l), 'PX', ttl)
  end
end
`;

/**
 * {@link TAKE_LUA} for the common case of one key with one limit (a plain RedisTokenBucket, a
 * keyed bucket), same arguments, same replies, same stored state. The general script's tables,
 * closures and pattern matching cost a large share of the server's time per call.
 */
export const TAKE_ONE_LUA = `-- bucketflow take, one key with one limit
-- KEYS[1]  the bucket's key
-- ARGV     as in the general take script: not after, n, maxWait, 1, capacity, tokens per ms,
--          initial tokens
-- Returns as the general script, except that a take of n > 0 tokens that succeeds returns 1.
local n, maxWait = tonumber(ARGV[2]), tonumber(ARGV[3])
local c, r, init = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
${ONE_KEY_LOAD}
local wait = 0
if l + 1e-9 < n then
  wait = math.huge
  if r > 0 then wait = (n - l) / r end
end
local status = 0
if maxWait >= 0 then
  if wait == 0 or n == 0 then status = 1 elseif wait < math.huge and wait <= maxWait then status = 2 end
end
local write = false
if status > 0 and n > 0 then
  l = l - n
  write = true
elseif maxWait >= 0 and not found then
  write = true
end
${ONE_KEY_SAVE}
-- Taken (the common answer): the integer 1 alone; nothing to format on the server or parse on the client.
if status == 1 and n > 0 then return 1 end
return {status, string.format('%.17g', wait), string.format('%.17g', l)}
`;

/**
 * Several requests that do not wait, of one key with one limit, in one call: each is taken or
 * refused exactly as {@link TAKE_ONE_LUA} with maxWait 0 would, one after the other, in order.
 * Concurrent `consume()` calls on one bucket send this instead of one script each.
 */
export const TAKE_MANY_LUA = `-- bucketflow take, several non-waiting requests of one key with one limit
-- KEYS[1]  the bucket's key
-- ARGV     not after (as in the general take script), 1, capacity, tokens per ms, initial tokens,
--          then the tokens each request wants (> 0)
-- Returns one character per request, in order: '1' taken, '0' refused (or 'stale', as the others).
local c, r, init = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
${ONE_KEY_LOAD}
local out, write = {}, not found
for i = 6, #ARGV do
  local n = tonumber(ARGV[i])
  if l + 1e-9 >= n then
    l = l - n
    out[i - 5] = '1'
    write = true
  else
    out[i - 5] = '0'
  end
end
${ONE_KEY_SAVE}
return table.concat(out)
`;

/** Gives a waiter's reservation back (an aborted waiter), never above a capacity. */
export const REFUND_LUA = `-- bucketflow refund
-- KEYS, ARGV[4..] as in take; ARGV[2] n: tokens to give back; ARGV[1] and ARGV[3] unused (a
-- refund is never stale: tokens given back late are still owed).
-- A missing key stays missing: its state, and the reservation with it, is gone already.
-- Returns the ms until no limit on the chain is below 0, i.e. until every reservation still
-- held is earned (waiters of this chain need not sleep longer), as a string.
${HELPERS}
local n = tonumber(ARGV[2])
local a, clear = 4, 0
for k = 1, #KEYS do
  local b, err = load(k, a)
  if err then return redis.error_reply(err) end
  a = b.next
  if b.found then
    for j = 1, #b.levels do
      local l = b.levels[j] + n
      if l > b.caps[j] then l = b.caps[j] end
      b.levels[j] = l
      if l < 0 and b.rates[j] > 0 and -l / b.rates[j] > clear then clear = -l / b.rates[j] end
    end
    save(k, b)
  end
end
return fmt(clear)
`;

// Named after the script's own hash: two versions of this library on one client (or one
// server) never call each other's script under the same name.
const tag = (lua: string): string => createHash('sha1').update(lua).digest('hex').slice(0, 10);

/** ioredis command names of the scripts, as defined on a client by {@link defineScripts}. */
export const TAKE_COMMAND = `bucketflowTake_${tag(TAKE_LUA)}`;
export const REFUND_COMMAND = `bucketflowRefund_${tag(REFUND_LUA)}`;
export const TAKE_ONE_COMMAND = `bucketflowTakeOne_${tag(TAKE_ONE_LUA)}`;
export const TAKE_MANY_COMMAND = `bucketflowTakeMany_${tag(TAKE_MANY_LUA)}`;

/** The part of an ioredis `Redis` or `Cluster` client the buckets use. */
export interface ScriptClient {
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number; readOnly?: boolean }): void;
  /** The server's clock (`TIME`), read now and then to tell a take when its caller gives up. */
  time?(): Promise<unknown>;
}

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

const defined = new WeakSet<object>();

/**
 * Defines the scripts on `client` once. ioredis then sends EVALSHA, and EVAL when the server
 * answers NOSCRIPT (after SCRIPT FLUSH or a restart), so the script cache is never our concern.
 */
export function defineScripts(client: ScriptClient): void {
  if (defined.has(client)) return;
  // No numberOfKeys: a hierarchy's chain length varies, so every call passes its key count first.
  client.defineCommand(TAKE_COMMAND, { lua: TAKE_LUA });
  client.defineCommand(REFUND_COMMAND, { lua: REFUND_LUA });
  client.defineCommand(TAKE_ONE_COMMAND, { lua: TAKE_ONE_LUA });
  client.defineCommand(TAKE_MANY_COMMAND, { lua: TAKE_MANY_LUA });
  defined.add(client);
}

/** Calls a script defined by {@link defineScripts}: `(numKeys, ...keys, ...args)`. */
export function callScript(client: ScriptClient, command: string, args: (string | number)[]): Promise<unknown> {
  return (client as unknown as Record<string, ScriptCall>)[command]!(...args);
}
