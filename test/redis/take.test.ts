// take(): the non-waiting decision in full on every Redis kind, in one round trip, gathered with
// the other calls of the tick; what it reports must agree with what the bucket holds.
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { KeyedTokenBucket, TokenBucket } from 'bucketflow';
import { RedisBucketError, RedisKeyedTokenBucket, RedisTokenBucket, createRedisBucketHierarchy } from 'bucketflow/redis';
import { describeRedis, sharedClient, uniqueKey } from './helpers/env.js';
import { freePort } from './helpers/servers.js';

describeRedis('take() on the Redis kinds', 'shared', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = sharedClient();
  });
  afterAll(() => redis.disconnect());

  it('reports what was taken, what is left, and when the bucket is full again', async () => {
    const bucket = new RedisTokenBucket({ redis, key: uniqueKey('take'), capacity: 10, fillRate: 2 });
    const d = await bucket.take(4);
    expect(d.allowed).toBe(true);
    expect(d.retryAfter).toBe(0);
    expect(d.remaining).toBeCloseTo(6, 2);
    expect(d.resetAfter).toBeGreaterThan(1900); // 4 tokens at 2/s: 2 s, less what the round trip earned back
    expect(d.resetAfter).toBeLessThanOrEqual(2000);
    expect(d.limits).toEqual([{ capacity: 10, fillRate: 2, remaining: d.remaining, resetAfter: d.resetAfter }]);
    const refused = await bucket.take(8);
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfter).toBeGreaterThan(900); // 2 tokens short at 2/s
    expect(refused.retryAfter).toBeLessThanOrEqual(1000);
    expect(refused.remaining).toBeCloseTo(6, 1); // nothing taken
    expect(await bucket.tokens()).toBeCloseTo(6, 1);
  });

  it('n above capacity is refused for ever; a take of 0 reads the levels and passes', async () => {
    const bucket = new RedisTokenBucket({ redis, key: uniqueKey('take-big'), capacity: 5, fillRate: 1 });
    const big = await bucket.take(6);
    expect(big).toMatchObject({ allowed: false, retryAfter: Infinity, remaining: 5, resetAfter: 0 });
    await bucket.acquire(5);
    await expect(bucket.acquire(1, { maxWait: 5000, signal: AbortSignal.timeout(50) })).rejects.toThrow(); // owes nothing after abort
    const zero = await bucket.take(0);
    expect(zero.allowed).toBe(true);
    expect(zero.remaining).toBeLessThan(0.2);
    await expect(bucket.take(-1)).rejects.toThrow(RangeError);
  });

  it('several limits: one entry per limit; remaining is the fewest, resetAfter the longest', async () => {
    const limits = [{ capacity: 10, fillRate: 10 }, { capacity: 100, fillRate: 0.01 }];
    const bucket = new RedisTokenBucket({ redis, key: uniqueKey('take-ml'), limits });
    const d = await bucket.take(3);
    expect(d.limits.map((l) => [l.capacity, l.fillRate])).toEqual([[10, 10], [100, 0.01]]);
    expect(d.limits[0]!.remaining).toBeCloseTo(7, 1);
    expect(d.limits[1]!.remaining).toBeCloseTo(97, 2);
    expect(d.remaining).toBe(d.limits[0]!.remaining);
    expect(d.limits[1]!.resetAfter).toBeGreaterThan(299_000); // 3 tokens at 0.01/s
    expect(d.resetAfter).toBe(d.limits[1]!.resetAfter);
    const quota = new RedisTokenBucket({ redis, key: uniqueKey('take-quota'), capacity: 3, fillRate: 0 });
    const q = await quota.take(1);
    expect(q).toMatchObject({ allowed: true, remaining: 2, resetAfter: Infinity });
    expect(await quota.take(3)).toMatchObject({ allowed: false, retryAfter: Infinity });
  });

  it('a hierarchy lists the leaf first, then its ancestors', async () => {
    const { api, search } = createRedisBucketHierarchy({
      redis, prefix: `${uniqueKey('take-h')}:`, name: 'api', capacity: 10, fillRate: 1,
      children: [{ name: 'search', capacity: 4, fillRate: 2 }],
    });
    const d = await search!.take(3);
    expect(d.limits.map((l) => [l.capacity, Math.round(l.remaining)])).toEqual([[4, 1], [10, 7]]);
    expect(d.remaining).toBeCloseTo(1, 1);
    const refused = await search!.take(2); // search has 1
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfter).toBeGreaterThan(400); // 1 token at 2/s
    expect((await api!.take(0)).remaining).toBeCloseTo(7, 1);
  });

  it('keyed: per key; the calls of one tick, decisions and booleans mixed, in one script call, as separate calls', async () => {
    const keyed = new RedisKeyedTokenBucket({ redis, prefix: `${uniqueKey('take-k')}:`, capacity: 2, fillRate: 0.001 });
    await keyed.take('warm', 0); // the script is loaded
    const spy = vi.spyOn(redis, 'sendCommand');
    let results: unknown[];
    try {
      results = await Promise.all([keyed.take('a'), keyed.consume('a'), keyed.take('a'), keyed.take('b', 2), keyed.consume('b')]);
      expect(spy.mock.calls.map(([c]) => (c as { name: string }).name)).toEqual(['evalsha']);
    } finally {
      spy.mockRestore();
    }
    expect((results[0] as { allowed: boolean }).allowed).toBe(true);
    expect(results[1]).toBe(true);
    expect(results[2]).toMatchObject({ allowed: false, remaining: expect.closeTo(0, 2) });
    expect(results[3]).toMatchObject({ allowed: true, remaining: expect.closeTo(0, 2) });
    expect(results[4]).toBe(false);
  });

  it('a key holding something else rejects its take; other keys of the batch are decided', async () => {
    const prefix = `${uniqueKey('take-bad')}:`;
    await redis.set(`${prefix}bad`, 'text');
    const keyed = new RedisKeyedTokenBucket({ redis, prefix, capacity: 2, fillRate: 1 });
    const [bad, good] = await Promise.allSettled([keyed.take('bad'), keyed.take('good')]);
    expect(String((bad as PromiseRejectedResult).reason)).toMatch(/holds a value that is not a bucket state/);
    expect((good as PromiseFulfilledResult<{ allowed: boolean }>).value.allowed).toBe(true);
  });

  it('when Redis fails: the policy decides; a local fallback gives its own decision', async () => {
    const { Redis: Client } = await import('ioredis');
    const dead = new Client({ port: await freePort(), lazyConnect: true, enableOfflineQueue: false });
    dead.on('error', () => {});
    try {
      const strict = new RedisTokenBucket({ redis: dead, key: 'k', capacity: 5, fillRate: 1 });
      await expect(strict.take()).rejects.toBeInstanceOf(RedisBucketError);
      const open = new RedisTokenBucket({ redis: dead, key: 'k', capacity: 5, fillRate: 1, onRedisError: 'allow' });
      expect(await open.take()).toMatchObject({ allowed: true, remaining: 0, retryAfter: 0 });
      const closed = new RedisTokenBucket({ redis: dead, key: 'k', capacity: 5, fillRate: 1, timeout: 300, onRedisError: 'deny' });
      expect(await closed.take()).toMatchObject({ allowed: false, remaining: 0, retryAfter: 300 });
      const insured = new RedisTokenBucket({ redis: dead, key: 'k', capacity: 5, fillRate: 1, onRedisError: new TokenBucket({ capacity: 2, fillRate: 0 }) });
      const fromFallback = await insured.take(2);
      expect(fromFallback.allowed).toBe(true);
      expect(fromFallback.limits).toEqual([{ capacity: 2, fillRate: 0, remaining: 0, resetAfter: Infinity }]);
      const keyed = new RedisKeyedTokenBucket({ redis: dead, prefix: 'p:', capacity: 5, fillRate: 1, onRedisError: new KeyedTokenBucket({ capacity: 1, fillRate: 0 }) });
      expect((await Promise.all([keyed.take('x'), keyed.take('x'), keyed.take('y')])).map((d) => d.allowed)).toEqual([true, false, true]);
    } finally {
      dead.disconnect();
    }
  });
});
