// Promise-based waiting. Throughput: one caller awaiting `acquire(1)` on a bucket that always
// admits. Waiters: 10,000 callers queued on an empty, slowly refilling bucket: heap per waiter
// (including the promise the caller holds) and how many timers the process keeps alive for them.
import { TokenBucket as LimiterBucket } from 'limiter';
import { AsyncTokenBucket } from '../../src/index.js';
import { MinimalBucket } from '../minimal-bucket.js';
import { asyncLoop, liveTimers, settledHeap, type Metrics } from '../measure.js';
import type { Contender } from './types.js';

const BIG = 1e9;
export const WAITERS = 10_000;

export const acquire: Record<string, Contender> = {
  'minimal bucket, awaited': ({ timing }) => {
    const b = new MinimalBucket(BIG, BIG);
    return asyncLoop(() => Promise.resolve(b.consume(1)), true, timing);
  },
  'bucketflow acquire': ({ timing }) => {
    const b = new AsyncTokenBucket({ capacity: BIG, fillRate: BIG });
    return asyncLoop(() => b.acquire(1), true, timing);
  },
  'limiter removeTokens': ({ timing }) => {
    const b = new LimiterBucket({ bucketSize: BIG, tokensPerInterval: BIG, interval: 'second' });
    return asyncLoop(() => b.removeTokens(1), true, timing);
  },
};

/**
 * Heap and timers of WAITERS queued waiters. A first, separate queue of 1,000 waiters is made
 * before the baseline, so one-time costs (lazy compilation, inline caches) are not counted.
 */
function waiters(make: () => () => Promise<unknown>): Metrics {
  const warm = make();
  const warmHeld = Array.from({ length: 1000 }, () => warm());
  const enqueue = make();
  const held: Promise<unknown>[] = new Array(WAITERS);
  const timersBefore = liveTimers();
  const before = settledHeap();
  for (let i = 0; i < WAITERS; i++) held[i] = enqueue();
  const bytesPerWaiter = (settledHeap() - before) / WAITERS;
  const timers = liveTimers() - timersBefore;
  for (const p of [...warmHeld, ...held]) p.catch(() => {}); // the process exits with them still queued
  return { bytesPerWaiter, timers };
}

export const queued: Record<string, Contender> = {
  'bucketflow acquire': () => waiters(() => {
    const b = new AsyncTokenBucket({ capacity: 1, fillRate: 1, initialTokens: 0 });
    return () => b.acquire(1);
  }),
  'limiter removeTokens': () => waiters(() => {
    const b = new LimiterBucket({ bucketSize: 1, tokensPerInterval: 1, interval: 'second' });
    return () => b.removeTokens(1);
  }),
};
