// 100,000 buckets used round-robin: what each key costs in heap (after gc) and how fast calls
// spread over many keys run once the buckets no longer fit in the CPU caches. The key strings
// exist before the baseline is taken: they belong to the application, not to the limiter.
import { TokenBucket as LimiterBucket } from 'limiter';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { TokenBucket as SimpleBucket } from 'simple-token-bucket';
import { KeyedTokenBucket, TokenBucket } from '../../src/index.js';
import { MinimalBucket } from '../minimal-bucket.js';
import { asyncLoop, settledHeap, syncLoop, type Metrics, type Timing } from '../measure.js';
import type { Contender } from './types.js';

export const KEYS = 100_000;
// A per-key limit (burst 1,000, 10/s) that always admits during a measurement (even at 10 M
// calls/s a key spends < 150 tokens in 1.5 s) and never refills to full: limiters that forget
// full buckets (KeyedTokenBucket) keep every key, so heap per key is per key actually held.
const CAPACITY = 1000;
const RATE = 10;

function keyNames(): string[] {
  return Array.from({ length: KEYS }, (_, i) => `user:${i}`);
}

/**
 * A bucket per key held in an array: heap per bucket object, then round-robin consume. Each
 * bucket is used once before the heap is measured: a used bucket holds fractional levels and
 * times (boxed doubles in V8), a fresh one may still hold small integers.
 */
function perObject<B>(create: () => B, consume: (b: B) => boolean, timing: Timing): Metrics {
  const before = settledHeap();
  const buckets: B[] = [];
  for (let i = 0; i < KEYS; i++) buckets.push(create());
  for (const b of buckets) consume(b);
  const bytesPerKey = (settledHeap() - before) / KEYS;
  let i = 0;
  const speed = syncLoop(() => {
    const b = buckets[i]!;
    if (++i === KEYS) i = 0;
    return consume(b);
  }, true, timing);
  return { ...speed, bytesPerKey };
}

/** A limiter that keys its own buckets: heap after every key has been used once, then round-robin. */
function keyed(consume: (key: string) => boolean, timing: Timing): Metrics {
  const keys = keyNames();
  const before = settledHeap();
  for (const key of keys) consume(key);
  const bytesPerKey = (settledHeap() - before) / KEYS;
  let i = 0;
  const speed = syncLoop(() => {
    const key = keys[i]!;
    if (++i === KEYS) i = 0;
    return consume(key);
  }, true, timing);
  return { ...speed, bytesPerKey };
}

export const manyKeys: Record<string, Contender> = {
  'minimal bucket': ({ timing }) => perObject(() => new MinimalBucket(CAPACITY, RATE), (b) => b.consume(1), timing),
  'minimal bucket in a Map': ({ timing }) => {
    const map = new Map<string, MinimalBucket>();
    return keyed((key) => {
      let b = map.get(key);
      if (b === undefined) map.set(key, (b = new MinimalBucket(CAPACITY, RATE)));
      return b.consume(1);
    }, timing);
  },
  'bucketflow TokenBucket': ({ timing }) =>
    perObject(() => new TokenBucket({ capacity: CAPACITY, fillRate: RATE }), (b) => b.consume(1), timing),
  'bucketflow KeyedTokenBucket': ({ timing }) => {
    const limiter = new KeyedTokenBucket({ capacity: CAPACITY, fillRate: RATE });
    return keyed((key) => limiter.consume(key, 1), timing);
  },
  limiter: ({ timing }) => perObject(() => {
    const b = new LimiterBucket({ bucketSize: CAPACITY, tokensPerInterval: RATE, interval: 'second' });
    b.content = CAPACITY; // limiter's buckets start empty; the others start full
    return b;
  }, (b) => b.tryRemoveTokens(1), timing),
  'simple-token-bucket': ({ timing }) =>
    perObject(() => new SimpleBucket({ capacity: CAPACITY, fillQuantity: RATE, fillTime: 1000 }), (b) => b.take(1) === 0, timing),
  'rate-limiter-flexible': async ({ timing }) => {
    const rl = new RateLimiterMemory({ points: RATE * 60, duration: 60 });
    const keys = keyNames();
    const before = settledHeap();
    for (const key of keys) await rl.consume(key, 1);
    const bytesPerKey = (settledHeap() - before) / KEYS;
    let i = 0;
    const speed = await asyncLoop(() => {
      const key = keys[i]!;
      if (++i === KEYS) i = 0;
      return rl.consume(key, 1);
    }, true, timing);
    return { ...speed, bytesPerKey };
  },
};
