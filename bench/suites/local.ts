// One bucket, one key, `consume(1)` over and over: the allow path (a bucket that always admits)
// and the reject path (a drained bucket that refills too slowly to ever admit during the run).
import { TokenBucket as LimiterBucket } from 'limiter';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { TokenBucket as SimpleBucket } from 'simple-token-bucket';
import { TokenBucket } from '../../src/index.js';
import { MinimalBucket } from '../minimal-bucket.js';
import { asyncLoop, syncLoop } from '../measure.js';
import type { Contender } from './types.js';

// Allow: capacity and rate far above any rate a loop can reach. Reject: empty, and 1 token per
// ~11.6 days (limiter treats a rate of 0 as "refill to full", so every contender gets a tiny rate).
const BIG = 1e9;
const TINY_RATE = 1e-6; // tokens per second

export const allow: Record<string, Contender> = {
  'minimal bucket': ({ timing }) => {
    const b = new MinimalBucket(BIG, BIG);
    return syncLoop(() => b.consume(1), true, timing);
  },
  bucketflow: ({ timing }) => {
    const b = new TokenBucket({ capacity: BIG, fillRate: BIG });
    return syncLoop(() => b.consume(1), true, timing);
  },
  limiter: ({ timing }) => {
    const b = new LimiterBucket({ bucketSize: BIG, tokensPerInterval: BIG, interval: 'second' });
    return syncLoop(() => b.tryRemoveTokens(1), true, timing);
  },
  'simple-token-bucket': ({ timing }) => {
    const b = new SimpleBucket({ capacity: BIG, fillQuantity: BIG, fillTime: 1000 });
    return syncLoop(() => b.take(1) === 0, true, timing);
  },
  'rate-limiter-flexible': ({ timing }) => {
    const rl = new RateLimiterMemory({ points: BIG, duration: 1 });
    return asyncLoop(() => rl.consume('k', 1), true, timing);
  },
};

export const reject: Record<string, Contender> = {
  'minimal bucket': ({ timing }) => {
    const b = new MinimalBucket(1, TINY_RATE, 0);
    return syncLoop(() => b.consume(1), false, timing);
  },
  bucketflow: ({ timing }) => {
    const b = new TokenBucket({ capacity: 1, fillRate: TINY_RATE, initialTokens: 0 });
    return syncLoop(() => b.consume(1), false, timing);
  },
  limiter: ({ timing }) => {
    const b = new LimiterBucket({ bucketSize: 1, tokensPerInterval: 1, interval: 1000 / TINY_RATE });
    return syncLoop(() => b.tryRemoveTokens(1), false, timing);
  },
  'simple-token-bucket': ({ timing }) => {
    const b = new SimpleBucket({ capacity: 1, fillQuantity: 1, fillTime: 1000 / TINY_RATE, initialCapacity: 0 });
    return syncLoop(() => b.take(1) === 0, false, timing);
  },
  'rate-limiter-flexible': async ({ timing }) => {
    const rl = new RateLimiterMemory({ points: 1, duration: 3600 });
    await rl.consume('k', 1);
    return asyncLoop(() => rl.consume('k', 1), false, timing);
  },
};

/** What one `performance.now()` read costs here: the floor under every local row. */
export const clockCost: Record<string, Contender> = {
  'performance.now()': ({ timing }) => syncLoop(() => performance.now() > 0, true, timing),
  'performance.now() on a held object': ({ timing }) => {
    const perf = performance;
    return syncLoop(() => perf.now() > 0, true, timing);
  },
  'Date.now()': ({ timing }) => syncLoop(() => Date.now() > 0, true, timing),
};
