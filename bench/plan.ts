// What the bench measures and what it must show: the rows (each a suite of contenders run in
// child processes) and the performance targets, as ratios within one run.
import { TAKE_LUA, TAKE_ONE_LUA } from '../src/redis/scripts.js';
import { MINIMAL_BUCKET_LUA, RETURN_ONE_LUA } from './minimal-lua.js';
import { suites } from './suites/index.js';

/** How a row's numbers are shown. */
export type RowKind = 'ops' | 'heap' | 'waiters' | 'redis' | 'http';

export interface Row {
  id: string;
  title: string;
  /** A few words naming the row in the progress lines, e.g. "Redis c=64 over 10,000 keys". */
  label: string;
  /** One or two sentences under the table: what a call does in this row. */
  note: string;
  kind: RowKind;
  /** Contender every other one is compared with ("× baseline" column). */
  baseline?: string;
  contenders(): string[];
}

/** samples[`${row}/${contender}`][metric] = one value per round. */
export interface Results {
  samples: Record<string, Record<string, number[]>>;
  errors: Record<string, string>;
  ceiling: Record<string, number[]>;
}

/** The HTTP rows' reference: the same server with no limiter. */
export const NO_LIMITER = 'no limiter';
const HTTP_LOAD = '64 connections, no pipelining, in a process of its own; every limit is so large that each request passes '
  + '(a run with any response other than 2xx fails)';
const HTTP_READING = '"overhead" is 1e6/(requests/s) − the same for no limiter, in µs: how much longer the loaded server takes per '
  + 'request with the limiter. "server CPU" is the server process\'s `process.cpuUsage()` over the measured window per request its route answered.';

const SEM_PAIRS = 'Every figure counts acquire + release pairs: ops/s is pairs per second.';
/** The Redis semaphore rows' reference, bench/minimal-semaphore-lua.ts. */
const MIN_SEM = 'minimal Lua semaphore';

const row = (id: string, label: string, title: string, kind: RowKind, note: string, baseline?: string): Row => ({
  id, label, title, kind, note, baseline, contenders: () => Object.keys(suites[id] ?? {}),
});

export const ROWS: readonly Row[] = [
  row('clock', 'clock read', 'Cost of one clock read', 'ops',
    '`performance.now()`: every local bucket reads the clock once per call, so this is the floor.'),
  row('allow', 'local allow path', 'Local, allow path: `consume(1)` on a bucket that always admits', 'ops',
    'One bucket, one caller. rate-limiter-flexible is promise-based: each call is awaited, as it must be used.',
    'minimal bucket'),
  row('reject', 'local reject path', 'Local, reject path: `consume(1)` on a drained bucket', 'ops',
    'The bucket is empty and refills 1 token per ~11.6 days. rate-limiter-flexible refuses by rejecting its promise.',
    'minimal bucket'),
  row('manyKeys', '100,000 keys', 'Many keys: 100,000 buckets used round-robin', 'heap',
    'Heap per key is measured after `gc()` (V8 heap plus ArrayBuffer contents, which live outside it) with the key strings allocated beforehand (they are the application\'s). '
    + 'Per-object contenders hold one bucket object per key in an array; keyed limiters (a Map inside) create a key\'s state on first use.',
    'minimal bucket'),
  row('acquire', 'awaited acquire', 'Async: awaited `acquire(1)` on a bucket that always admits', 'ops',
    'One caller awaiting each call; "minimal bucket, awaited" is the cost of the `await` itself.',
    'minimal bucket, awaited'),
  row('queued', '10,000 waiters', 'Async: 10,000 waiters queued on an empty bucket', 'waiters',
    'Heap per waiter includes the promise the caller holds; timers are the process\'s live `Timeout` handles.'),
  row('hierarchy', 'hierarchy', 'Hierarchy: `consume(1)` charged to 3 nested levels vs one bucket', 'ops',
    'Every level always admits; the 3-level call checks all levels, then commits.',
    'bucketflow TokenBucket (1 level)'),
  row('twoLimits', 'local two limits', 'Several limits, local: `consume(1)` on a bucket with two limits', 'ops',
    'One caller; a limit per second and one per minute (`limits: [{ capacity: 1e9, fillRate: 1e9 }, { capacity: 6e10, fillRate: 1e9 }]`), '
    + 'both always admitting, charged all or nothing. "bucketflow, one limit" is the per-second limit alone.',
    'minimal two-limit bucket'),
  row('semLocalC1', 'local semaphore c=1', 'Semaphore, local: acquire + release, 1 caller', 'ops',
    'One caller doing `const lease = await sem.acquire(); lease.release()` on a `Semaphore({ limit: 64 })`. bottleneck: '
    + '`new Bottleneck({ maxConcurrent: 64 })`, each pair one `limiter.schedule(() => Promise.resolve(true))`; it passes every job '
    + 'through `setTimeout(…, 0)` steps (at least 1 ms each in Node), so timers, not CPU, hold its rate. p-limit: `pLimit(64)`, each '
    + 'pair one call of the limited function; async-sema: `new Sema(64)`, `await acquire()` then `release()`. '
    + SEM_PAIRS,
    'bottleneck'),
  row('semLocalC64', 'local semaphore c=64', 'Semaphore, local: acquire + release, 64 concurrent callers', 'ops',
    `64 callers at once, each as in the row above, on a limit of 64: a caller holds at most one slot, so none waits. ${SEM_PAIRS} `
    + 'ns/op is wall time per pair over all callers.',
    'bottleneck'),
  row('redisC1', 'Redis c=1', 'Redis, concurrency 1 on one ioredis connection', 'redis',
    'One caller awaiting each call against the bench\'s private redis-server.', 'minimal Lua bucket'),
  row('redisC64', 'Redis c=64 one key', 'Redis, concurrency 64 on one ioredis connection', 'redis',
    '64 callers awaiting calls concurrently on one key, pipelined by ioredis on one connection. '
    + 'bucketflow sends the calls made in one tick on one key as one script call (each caller still waits one round trip).',
    'minimal Lua bucket'),
  row('redisKeysC64', 'Redis c=64 over 10,000 keys', 'Redis, concurrency 64 over 10,000 keys (keyed use)', 'redis',
    '64 callers as above, each call on the next of 10,000 keys, so no two calls of a tick are on the same key. bucketflow '
    + 'gathers the non-waiting takes of one tick across keys into one script call (per hash slot on a Cluster); the minimal '
    + 'Lua bucket sends one script call per call. rate-limiter-flexible is a keyed store by design.',
    'minimal Lua bucket'),
  row('redisTwoLimitsC64', 'Redis c=64 one key, two limits', 'Several limits, Redis: concurrency 64 on one key with two limits', 'redis',
    '64 callers on one connection, one key holding a limit per second and one per minute, both always admitting. The minimal '
    + 'two-limit Lua bucket is one script per call: server time, one read, one write, an expiry.',
    'minimal two-limit Lua bucket'),
  row('redisKeysTwoLimitsC64', 'Redis c=64 over 10,000 keys, two limits', 'Several limits, Redis: concurrency 64 over 10,000 keys with two limits', 'redis',
    'As the row above, but each call on the next of 10,000 keys (no two calls of a tick on the same key), every key holding both limits.',
    'minimal two-limit Lua bucket'),
  row('semRedisC1', 'Redis semaphore c=1', 'Semaphore, Redis: acquire + release, 1 caller on one ioredis connection', 'redis',
    'One caller doing `const lease = await sem.acquire(); await lease.release()` on a `RedisSemaphore({ limit: 1000 })` (default '
    + 'leaseTime), two round trips per pair. The minimal Lua semaphore: one script to acquire (drop expired leases, count, '
    + 'add one with its expiry score, refresh the key\'s expiry; bench/minimal-semaphore-lua.ts), `ZREM` to release. bottleneck: '
    + '`schedule()` with its ioredis datastore (`maxConcurrent: 1000`) on two connections it opens itself; each job is three scripts '
    + `(submit, register, free) and a \`setTimeout(…, 0)\` before it runs. ${SEM_PAIRS}`,
    MIN_SEM),
  row('semRedisC64', 'Redis semaphore c=64', 'Semaphore, Redis: acquire + release, 64 callers on one ioredis connection', 'redis',
    `64 callers at once, each as in the row above, pipelined by ioredis on one connection; the limit of 1,000 leaves every acquire a free slot. ${SEM_PAIRS}`,
    MIN_SEM),
  row('httpExpress', 'HTTP Express', 'HTTP, Express 5: `GET /` answering a short text on 127.0.0.1', 'http',
    `Load: autocannon, ${HTTP_LOAD}. bucketflow: \`expressRateLimit\` with a \`KeyedTokenBucket\` keyed by client address, default `
    + '(draft-11) headers. express-rate-limit: memory store, `standardHeaders: \'draft-8\'`, `legacyHeaders: false` (the same two '
    + `header fields). ${HTTP_READING}`,
    NO_LIMITER),
  row('httpExpressRedis', 'HTTP Express + Redis', 'HTTP, Express 5 with a Redis-backed limiter: `GET /` on 127.0.0.1', 'http',
    `Load: autocannon, ${HTTP_LOAD}. bucketflow: \`expressRateLimit\` with a \`RedisKeyedTokenBucket\` on the bench's private `
    + 'redis-server, keyed by client address. express-rate-limit with rate-limit-redis (its Redis store, commands sent through '
    + `ioredis), \`standardHeaders: 'draft-8'\`. ${HTTP_READING}`,
    NO_LIMITER),
  row('httpFastify', 'HTTP Fastify', 'HTTP, Fastify 5: `GET /` answering a short text on 127.0.0.1', 'http',
    `Load: autocannon, ${HTTP_LOAD}. bucketflow: the \`fastifyRateLimit\` plugin with a \`KeyedTokenBucket\` keyed by client address, `
    + 'default (draft-11) headers. @fastify/rate-limit: in-memory store, its default headers (`X-RateLimit-Limit`, `-Remaining`, '
    + `\`-Reset\`). ${HTTP_READING}`,
    NO_LIMITER),
];

/** A script for the server-side ceiling: `EVALSHA <sha> ...args` under `redis-benchmark -P 16`. */
export interface CeilingScript {
  name: string;
  lua: string;
  args: string[];
}

export const CEILING_SCRIPTS: readonly CeilingScript[] = [
  { name: 'EVALSHA `return 1`', lua: RETURN_ONE_LUA, args: ['0'] },
  { name: 'EVALSHA minimal Lua bucket', lua: MINIMAL_BUCKET_LUA, args: ['1', 'bench:ceiling:minimal', '1000000000', '1000000', '1'] },
  // Never stale ('inf'), n = 1, maxWait 0, then one limit: capacity, tokens per ms, initial
  // tokens (see the header of src/redis/lua/take.lua).
  { name: 'EVALSHA bucketflow take script (general)', lua: TAKE_LUA, args: ['1', 'bench:ceiling:bucketflow', 'inf', '1', '0', '1', '1000000000', '1000000', '1000000000'] },
  { name: 'EVALSHA bucketflow take script (one key, one limit)', lua: TAKE_ONE_LUA, args: ['1', 'bench:ceiling:bucketflow-one', 'inf', '1', '0', '1', '1000000000', '1000000', '1000000000'] },
];

/** Median of one metric of one contender, or undefined if it was not measured. */
export type Lookup = (row: string, contender: string, metric: string) => number | undefined;

/** Contenders of one row whose measurements, side by side, explain why a target missed. */
export interface Evidence {
  row: string;
  contenders: readonly string[];
}

export interface Target {
  text: string;
  /** What the row's physical-limit contender reaches on the same target, where that means something. */
  check(m: Lookup): { measured: string; pass: boolean; limit?: string } | undefined;
  /** Shown under "Reading the misses" when the target misses. */
  evidence?: Evidence;
}

const x = (v: number): string => `${v.toFixed(2)}×`;

function ratio(text: string, rowId: string, metric: string, ours: string, other: string, min: number, reference?: string): Target {
  return {
    text,
    check: (m) => {
      const a = m(rowId, ours, metric);
      const b = m(rowId, other, metric);
      if (a === undefined || b === undefined) return undefined;
      const r = reference === undefined ? undefined : m(rowId, reference, metric);
      return { measured: x(a / b), pass: a / b >= min, limit: r === undefined ? undefined : x(r / b) };
    },
  };
}

function atMost(text: string, rowId: string, metric: string, ours: string, other: string, max: number): Target {
  return {
    text,
    check: (m) => {
      const a = m(rowId, ours, metric);
      const b = m(rowId, other, metric);
      if (a === undefined || b === undefined) return undefined;
      return { measured: x(a / b), pass: a / b <= max };
    },
  };
}

const explained = (target: Target, rowId: string, ...contenders: string[]): Target => ({ ...target, evidence: { row: rowId, contenders } });

/**
 * The share of the minimal bucket's calls per second bucketflow must reach on one bucket. The allow
 * path is what most calls of a rate limiter take, so it is held closest.
 */
export const OF_MINIMAL_BUCKET = { allow: 0.95, reject: 0.8 } as const;

const localTargets = (id: 'allow' | 'reject'): Target[] => [
  ratio(`${id}: bucketflow ≥ ${OF_MINIMAL_BUCKET[id]}× minimal bucket`, id, 'opsPerSec', 'bucketflow', 'minimal bucket', OF_MINIMAL_BUCKET[id]),
  ratio(`${id}: bucketflow ≥ 1.5× limiter`, id, 'opsPerSec', 'bucketflow', 'limiter', 1.5, 'minimal bucket'),
  ratio(`${id}: bucketflow ≥ 5× rate-limiter-flexible`, id, 'opsPerSec', 'bucketflow', 'rate-limiter-flexible', 5, 'minimal bucket'),
];

const MIN_LUA = 'minimal Lua bucket';
const MIN_TWO_LUA = 'minimal two-limit Lua bucket';
const RTB = 'bucketflow RedisTokenBucket';
const RKTB = 'bucketflow RedisKeyedTokenBucket';
const RLF = 'rate-limiter-flexible';

const redisC1Targets: Target[] = [
  explained(ratio('Redis c=1: bucketflow ≥ 0.9× minimal Lua bucket (latency within 10 %)', 'redisC1', 'opsPerSec', RTB, MIN_LUA, 0.9),
    'redisC1', 'PING', MIN_LUA, RTB),
];

const redisC64Targets: Target[] = [
  ratio('Redis c=64: bucketflow ≥ 0.95× minimal Lua bucket', 'redisC64', 'opsPerSec', RTB, MIN_LUA, 0.95),
  ratio('Redis c=64: bucketflow ≥ 1.3× rate-limiter-flexible', 'redisC64', 'opsPerSec', RTB, RLF, 1.3, MIN_LUA),
  atMost('Redis c=64: client CPU per call ≤ minimal Lua bucket\'s', 'redisC64', 'cpuUsPerCall', RTB, MIN_LUA, 1),
].map((t) => explained(t, 'redisC64', MIN_LUA, RTB, RLF));

const redisKeysTargets: Target[] = [
  ratio('Redis c=64, 10,000 keys: keyed ≥ 3× minimal Lua bucket', 'redisKeysC64', 'opsPerSec', RKTB, MIN_LUA, 3),
  ratio('Redis c=64, 10,000 keys: keyed ≥ 1.3× rate-limiter-flexible', 'redisKeysC64', 'opsPerSec', RKTB, RLF, 1.3, MIN_LUA),
  atMost('Redis c=64, 10,000 keys: client CPU per call ≤ minimal Lua bucket\'s', 'redisKeysC64', 'cpuUsPerCall', RKTB, MIN_LUA, 1),
  atMost('Redis c=64, 10,000 keys: server CPU per op ≤ 0.5× minimal Lua bucket\'s', 'redisKeysC64', 'serverCpuUsPerOp', RKTB, MIN_LUA, 0.5),
].map((t) => explained(t, 'redisKeysC64', 'PING', MIN_LUA, RKTB, RLF));

const severalLimitsTargets: Target[] = [
  explained(ratio('two limits: bucketflow ≥ 0.8× minimal two-limit bucket', 'twoLimits', 'opsPerSec', 'bucketflow, two limits', 'minimal two-limit bucket', 0.8),
    'twoLimits', 'minimal two-limit bucket', 'bucketflow, two limits', 'bucketflow, one limit'),
  explained(ratio('Redis c=64, two limits: bucketflow ≥ 1× minimal two-limit Lua bucket', 'redisTwoLimitsC64', 'opsPerSec', RTB, MIN_TWO_LUA, 1),
    'redisTwoLimitsC64', MIN_TWO_LUA, RTB),
];

const BF_SEM = 'bucketflow Semaphore';
const BF_RSEM = 'bucketflow RedisSemaphore';

const semaphoreTargets: Target[] = [
  ...([['semLocalC1', 1], ['semLocalC64', 64]] as const).map(([id, c]) =>
    explained(ratio(`local semaphore c=${c}: bucketflow ≥ 2× bottleneck`, id, 'opsPerSec', BF_SEM, 'bottleneck', 2), id, BF_SEM, 'bottleneck')),
  explained(ratio(`Redis semaphore c=64: bucketflow ≥ 1× ${MIN_SEM}`, 'semRedisC64', 'opsPerSec', BF_RSEM, MIN_SEM, 1),
    'semRedisC64', MIN_SEM, BF_RSEM),
];

/** µs a contender adds to each request over the row's no-limiter server: 1e6/rps − 1e6/rps without. */
export function overheadUs(m: Lookup, rowId: string, contender: string): number | undefined {
  const rps = m(rowId, contender, 'opsPerSec');
  const without = m(rowId, NO_LIMITER, 'opsPerSec');
  return rps === undefined || without === undefined ? undefined : 1e6 / rps - 1e6 / without;
}

/** Signed µs with one decimal: "+3.2 µs", "−0.4 µs". */
export const signedUs = (v: number): string => `${v < 0 ? '−' : '+'}${Math.abs(v).toFixed(1)} µs`;

function overheadAtMost(text: string, rowId: string, ours: string, other: string): Target {
  return {
    text,
    check: (m) => {
      const a = overheadUs(m, rowId, ours);
      const b = overheadUs(m, rowId, other);
      if (a === undefined || b === undefined) return undefined;
      return { measured: `${signedUs(a)} vs ${signedUs(b)}`, pass: a <= b };
    },
  };
}

const BF_EXPRESS = 'bucketflow expressRateLimit';
const BF_FASTIFY = 'bucketflow fastifyRateLimit';

const httpTargets: Target[] = [
  explained(overheadAtMost('HTTP Express: bucketflow\'s overhead per request ≤ express-rate-limit\'s', 'httpExpress', BF_EXPRESS, 'express-rate-limit'),
    'httpExpress', NO_LIMITER, BF_EXPRESS, 'express-rate-limit'),
  explained(overheadAtMost('HTTP Express + Redis: bucketflow\'s overhead per request ≤ rate-limit-redis\'s', 'httpExpressRedis', BF_EXPRESS, 'express-rate-limit + rate-limit-redis'),
    'httpExpressRedis', NO_LIMITER, BF_EXPRESS, 'express-rate-limit + rate-limit-redis'),
  explained(overheadAtMost('HTTP Fastify: bucketflow\'s overhead per request ≤ @fastify/rate-limit\'s', 'httpFastify', BF_FASTIFY, '@fastify/rate-limit'),
    'httpFastify', NO_LIMITER, BF_FASTIFY, '@fastify/rate-limit'),
];

export const TARGETS: readonly Target[] = [
  ...localTargets('allow'),
  ...localTargets('reject'),
  atMost('heap per key: TokenBucket ≤ 1.1× minimal bucket', 'manyKeys', 'bytesPerKey', 'bucketflow TokenBucket', 'minimal bucket', 1.1),
  atMost('heap per key: KeyedTokenBucket ≤ 1.1× minimal bucket', 'manyKeys', 'bytesPerKey', 'bucketflow KeyedTokenBucket', 'minimal bucket', 1.1),
  atMost('heap per key: KeyedTokenBucket ≤ 1.1× minimal bucket in a Map', 'manyKeys', 'bytesPerKey', 'bucketflow KeyedTokenBucket', 'minimal bucket in a Map', 1.1),
  ratio('hierarchy: 3 levels ≥ 0.3× one bucket', 'hierarchy', 'opsPerSec', 'bucketflow Hierarchical, 3 levels', 'bucketflow TokenBucket (1 level)', 0.3),
  ...redisC1Targets,
  ...redisC64Targets,
  ...redisKeysTargets,
  ...severalLimitsTargets,
  ...semaphoreTargets,
  ...httpTargets,
  {
    text: '10,000 async waiters: one timer',
    check: (m) => {
      const t = m('queued', 'bucketflow acquire', 'timers');
      return t === undefined ? undefined : { measured: `${t} timer${t === 1 ? '' : 's'}`, pass: t <= 1 };
    },
  },
  {
    text: '10,000 async waiters: < 200 B each',
    check: (m) => {
      const b = m('queued', 'bucketflow acquire', 'bytesPerWaiter');
      return b === undefined ? undefined : { measured: `${b.toFixed(0)} B`, pass: b < 200 };
    },
  },
];
