// One limit shared by every process that talks to the same Redis. Needs a Redis server:
//   REDIS_URL=redis://127.0.0.1:6379 node --import tsx examples/redis.ts
// (not part of `npm run example`, which needs no Redis).
import { Redis } from 'ioredis';
import { TokenBucket } from 'bucketflow';
import {
  RateLimitExceeded,
  RedisKeyedTokenBucket,
  RedisTokenBucket,
  createRedisBucketHierarchy,
} from 'bucketflow/redis';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const run = `example:${process.pid}:`; // fresh keys on every run

// 5 requests per second with bursts of 10, for every process using this key.
const api = new RedisTokenBucket({ redis, key: `${run}api`, capacity: 10, fillRate: 5 });

const burst = await Promise.all(Array.from({ length: 12 }, () => api.consume()));
console.log('12 requests at once:', burst.map((ok) => (ok ? 200 : 429)).join(' ')); // ten 200s, two 429s

try {
  await api.acquire(1, { maxWait: 0 }); // the non-waiting form that says when to retry
} catch (error) {
  if (error instanceof RateLimitExceeded) console.log('retry after about', Math.round(error.retryAfter / 10) * 10, 'ms'); // 200
}

const t0 = performance.now();
await api.acquire(2); // waits its turn (first come, first served across processes)
console.log('acquire(2) waited about', Math.round((performance.now() - t0) / 100) * 100, 'ms'); // 400

// If Redis fails, fall back to a local bucket instead of rejecting (the "insurance" bucket).
const insured = new RedisTokenBucket({
  redis, key: `${run}insured`, capacity: 10, fillRate: 5, timeout: 200,
  onRedisError: new TokenBucket({ capacity: 2, fillRate: 1 }),
});
console.log('insured consume:', await insured.consume());

// One bucket per client key, each its own Redis key that expires once full again.
const perUser = new RedisKeyedTokenBucket({
  redis, prefix: `${run}user:`,
  limits: [{ capacity: 3, fillRate: 3 }, { capacity: 100, fillRate: 100 / 3600 }], // 3/s and 100/hour
});
const alice = await Promise.all(Array.from({ length: 4 }, () => perUser.consume('alice')));
console.log('alice x4:', alice.join(' '), '| bob:', await perUser.consume('bob')); // true true true false | true

// A hierarchy charged leaf to root in one atomic script; its keys share the {api} hash tag.
const { search, upload } = createRedisBucketHierarchy({
  redis, prefix: run, name: 'api', capacity: 4, fillRate: 2,
  children: [{ name: 'search', capacity: 3, fillRate: 1 }, { name: 'upload', capacity: 3, fillRate: 1 }],
});
console.log('search 3:', await search.consume(3), '| upload 2:', await upload.consume(2), '| upload 1:', await upload.consume(1));
// search 3: true | upload 2: false (api has 1 left) | upload 1: true
console.log('search key:', search.key); // example:<pid>:{api}:search

redis.disconnect();
