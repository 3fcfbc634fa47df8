// What the bench measures and what it must show: the rows (each a suite of contenders run in
// child processes) and the performance targets, as ratios within one run.
import { TAKE_LUA, TAKE_ONE_LUA } from '../src/redis/scripts.js';
import { MINIMAL_BUCKET_LUA, RETURN_ONE_LUA } from './minimal-lua.js';
import { suites } from './suites/index.js';

/** How a row's numbers are shown. */
export type RowKind = 'ops' | 'heap' | 'waiters' | 'redis';

export interface Row {
  id: string;
  title: string;
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

const row = (id: string, title: string, kind: RowKind, note: string, baseline?: string): Row => ({
  id, title, kind, note, baseline, contenders: () => Object.keys(suites[id] ?? {}),
});

export const ROWS: readonly Row[] = [
  row('clock', 'Cost of one clock read', 'ops',
    '`performance.now()`: every local bucket reads the clock once per call, so this is the floor.'),
  row('allow', 'Local, allow path: `consume(1)` on a bucket that always admits', 'ops',
    'One bucket, one caller. rate-limiter-flexible is promise-based: each call is awaited, as it must be used.',
    'minimal bucket'),
  row('reject', 'Local, reject path: `consume(1)` on a drained bucket', 'ops',
    'The bucket is empty and refills 1 token per ~11.6 days. rate-limiter-flexible refuses by rejecting its promise.',
    'minimal bucket'),
  row('manyKeys', 'Many keys: 100,000 buckets used round-robin', 'heap',
    'Heap per key is measured after `gc()` (V8 heap plus ArrayBuffer contents, which live outside it) with the key strings allocated beforehand (they are the application\'s). '
    + 'Per-object contenders hold one bucket object per key in an array; keyed limiters (a Map inside) create a key\'s state on first use.',
    'minimal bucket'),
  row('acquire', 'Async: awaited `acquire(1)` on a bucket that always admits', 'ops',
    'One caller awaiting each call; "minimal bucket, awaited" is the cost of the `await` itself.',
    'minimal bucket, awaited'),
  row('queued', 'Async: 10,000 waiters queued on an empty bucket', 'waiters',
    'Heap per waiter includes the promise the caller holds; timers are the process\'s live `Timeout` handles.'),
  row('hierarchy', 'Hierarchy: `consume(1)` charged to 3 nested levels vs one bucket', 'ops',
    'Every level always admits; the 3-level call checks all levels, then commits.',
    'bucketflow TokenBucket (1 level)'),
  row('redisC1', 'Redis, concurrency 1 on one ioredis connection', 'redis',
    'One caller awaiting each call against the bench\'s private redis-server.', 'minimal Lua bucket'),
  row('redisC64', 'Redis, concurrency 64 on one ioredis connection', 'redis',
    '64 callers awaiting calls concurrently on one key, pipelined by ioredis on one connection. '
    + 'bucketflow sends the calls made in one tick on one key as one script call (each caller still waits one round trip).',
    'minimal Lua bucket'),
  row('redisKeysC64', 'Redis, concurrency 64 over 10,000 keys (keyed use)', 'redis',
    '64 callers as above, each call on the next of 10,000 keys, so no two calls of a tick share a key and nothing is '
    + 'gathered: the per-call cost. rate-limiter-flexible is a keyed store by design.',
    'minimal Lua bucket'),
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

export interface Target {
  text: string;
  /** What the row's physical-limit contender reaches on the same target, where that means something. */
  check(m: Lookup): { measured: string; pass: boolean; limit?: string } | undefined;
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

const localTargets = (id: 'allow' | 'reject'): Target[] => [
  ratio(`${id}: bucketflow ≥ 0.8× minimal bucket`, id, 'opsPerSec', 'bucketflow', 'minimal bucket', 0.8),
  ratio(`${id}: bucketflow ≥ 1.5× limiter`, id, 'opsPerSec', 'bucketflow', 'limiter', 1.5, 'minimal bucket'),
  ratio(`${id}: bucketflow ≥ 5× rate-limiter-flexible`, id, 'opsPerSec', 'bucketflow', 'rate-limiter-flexible', 5, 'minimal bucket'),
];

export const TARGETS: readonly Target[] = [
  ...localTargets('allow'),
  ...localTargets('reject'),
  atMost('heap per key: TokenBucket ≤ 1.1× minimal bucket', 'manyKeys', 'bytesPerKey', 'bucketflow TokenBucket', 'minimal bucket', 1.1),
  atMost('heap per key: KeyedTokenBucket ≤ 1.1× minimal bucket', 'manyKeys', 'bytesPerKey', 'bucketflow KeyedTokenBucket', 'minimal bucket', 1.1),
  atMost('heap per key: KeyedTokenBucket ≤ 1.1× minimal bucket in a Map', 'manyKeys', 'bytesPerKey', 'bucketflow KeyedTokenBucket', 'minimal bucket in a Map', 1.1),
  ratio('hierarchy: 3 levels ≥ 0.3× one bucket', 'hierarchy', 'opsPerSec', 'bucketflow Hierarchical, 3 levels', 'bucketflow TokenBucket (1 level)', 0.3),
  ratio('Redis c=64: bucketflow ≥ 0.95× minimal Lua bucket', 'redisC64', 'opsPerSec', 'bucketflow RedisTokenBucket', 'minimal Lua bucket', 0.95),
  ratio('Redis c=64: bucketflow ≥ 1.3× rate-limiter-flexible', 'redisC64', 'opsPerSec', 'bucketflow RedisTokenBucket', 'rate-limiter-flexible', 1.3, 'minimal Lua bucket'),
  atMost('Redis c=64: client CPU per call ≤ minimal Lua bucket\'s', 'redisC64', 'cpuUsPerCall', 'bucketflow RedisTokenBucket', 'minimal Lua bucket', 1),
  ratio('Redis c=64, 10,000 keys: keyed ≥ 0.95× minimal Lua bucket', 'redisKeysC64', 'opsPerSec', 'bucketflow RedisKeyedTokenBucket', 'minimal Lua bucket', 0.95),
  ratio('Redis c=64, 10,000 keys: keyed ≥ 1.3× rate-limiter-flexible', 'redisKeysC64', 'opsPerSec', 'bucketflow RedisKeyedTokenBucket', 'rate-limiter-flexible', 1.3, 'minimal Lua bucket'),
  atMost('Redis c=64, 10,000 keys: client CPU per call ≤ minimal Lua bucket\'s', 'redisKeysC64', 'cpuUsPerCall', 'bucketflow RedisKeyedTokenBucket', 'minimal Lua bucket', 1),
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
