// maxWaiting on the Redis kinds bounds this process's waiters (the shared case table covers one
// bucket of each kind): a keyed limiter counts over every key, and a semaphore's waiters too.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { RateLimitExceeded, RedisKeyedTokenBucket, RedisSemaphore } from 'bucketflow/redis';
import { describeRedis, sharedClient, uniqueKey } from './helpers/env.js';

describeRedis('maxWaiting on the Redis kinds', 'shared', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = sharedClient();
  });
  afterAll(() => redis.disconnect());

  it('RedisKeyedTokenBucket counts this process\'s waiters over every key, and a refusal reserves nothing', async () => {
    const keyed = new RedisKeyedTokenBucket({ redis, prefix: `${uniqueKey('mw')}:`, capacity: 1, fillRate: 2, initialTokens: 0, maxWaiting: 2 });
    const waits = [keyed.acquire('a'), keyed.acquire('b')];
    expect(keyed.waiting).toBe(2);
    const refused = await keyed.acquire('c', 1, { maxWait: 10_000 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitExceeded);
    expect((refused as Error).message).toMatch(/2 callers already wait \(maxWaiting\)/);
    expect(await keyed.tokens('c')).toBeGreaterThan(-0.1); // nothing reserved on c
    await Promise.all(waits);
    expect(keyed.waiting).toBe(0);
    await keyed.acquire('c'); // room again
  });

  it('RedisSemaphore refuses an acquire that would wait past maxWaiting, and serves one that need not', async () => {
    const sem = new RedisSemaphore({ redis, key: uniqueKey('mw-sem'), limit: 1, maxWaiting: 1 });
    const held = await sem.acquire();
    const queued = sem.acquire();
    await new Promise((r) => setTimeout(r, 20));
    const refused = await sem.acquire().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitExceeded);
    expect((refused as Error).message).toMatch(/1 callers of this process already wait \(maxWaiting\)/);
    expect(await sem.waiting()).toBe(1);
    await held.release();
    await (await queued).release();
    await (await sem.acquire()).release();
    expect(await sem.inUse()).toBe(0);
  });
});
