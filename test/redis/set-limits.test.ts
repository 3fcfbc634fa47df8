// setLimits and per-key tiers on the Redis kinds, beyond the shared case table: the scripts with
// a stored level above a new, lower capacity and with a new number of limits; what a change in one
// process means for another; tiers; and a change while Redis is unreachable.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisKeyedTokenBucket, RedisTokenBucket, createRedisBucketHierarchy } from 'bucketflow/redis';
import { describeRedis, sharedClient, uniqueKey } from './helpers/env.js';
import { freePort } from './helpers/servers.js';
import { storedLevels } from './helpers/state.js';

// Rates slow enough that the time a test takes earns nothing that matters.
const SLOW = 0.0001;

describeRedis('setLimits on Redis', 'shared', () => {
  let a: Redis;
  let b: Redis;
  beforeAll(() => {
    a = sharedClient();
    b = sharedClient();
  });
  afterAll(() => {
    a.disconnect();
    b.disconnect();
  });

  it('a stored level above a new, lower capacity is cut by the next script, with one limit or several', async () => {
    const one = new RedisTokenBucket({ redis: a, key: uniqueKey('cut1'), capacity: 10, fillRate: SLOW });
    const two = new RedisTokenBucket({ redis: a, key: uniqueKey('cut2'), limits: [{ capacity: 10, fillRate: SLOW }, { capacity: 50, fillRate: SLOW }] });
    await Promise.all([one.consume(1), two.consume(1)]); // stored: 9, and 9 and 49
    await one.setLimits({ capacity: 4, fillRate: SLOW });
    await two.setLimits({ limits: [{ capacity: 4, fillRate: SLOW }, { capacity: 5, fillRate: SLOW }] });
    for (const bucket of [one, two]) {
      expect(await bucket.tokens()).toBeCloseTo(4, 3);
      expect(await bucket.consume(5)).toBe(false);
      expect(await bucket.consume(4)).toBe(true);
      expect(await bucket.consume(1)).toBe(false);
    }
    expect([one.capacity, two.capacity, two.limits.map((l) => l.capacity)]).toEqual([4, 4, [4, 5]]);
  });

  it('matches limits by position: a new limit starts at its initialTokens, a dropped one leaves the key', async () => {
    const key = uniqueKey('count');
    const bucket = new RedisTokenBucket({ redis: a, key, capacity: 10, fillRate: SLOW });
    await bucket.consume(7); // 3
    await bucket.setLimits({ limits: [{ capacity: 10, fillRate: SLOW }, { capacity: 20, fillRate: SLOW, initialTokens: 2 }] });
    expect(await bucket.tokens()).toBeCloseTo(2, 3);
    expect(await bucket.consume(1)).toBe(true);
    expect((await storedLevels(a, key)).map((l) => Math.round(l))).toEqual([2, 1]);
    await bucket.setLimits({ capacity: 10, fillRate: SLOW });
    expect(await bucket.tokens()).toBeCloseTo(2, 3);
    expect(await bucket.consume(1)).toBe(true);
    expect((await storedLevels(a, key)).map((l) => Math.round(l))).toEqual([1]);
  });

  it('limits travel with each call: another process keeps its own until it changes them too', async () => {
    const key = uniqueKey('two');
    const here = new RedisTokenBucket({ redis: a, key, capacity: 10, fillRate: SLOW });
    const there = new RedisTokenBucket({ redis: b, key, capacity: 10, fillRate: SLOW });
    await here.setLimits({ capacity: 2, fillRate: SLOW });
    expect(await here.consume(3)).toBe(false);
    expect(await there.consume(3)).toBe(true); // its calls still carry capacity 10 (the key was full)
    expect(await here.tokens()).toBe(2); // read with capacity 2: the stored 7 is cut
    expect(await there.tokens()).toBeCloseTo(7, 3);
    await there.setLimits({ capacity: 2, fillRate: SLOW });
    expect(await there.tokens()).toBe(2);
    expect(await there.consume(2)).toBe(true);
    expect(await here.consume(0.5)).toBe(false);
  });

  it('a hierarchy level re-times the waiters below it in this process, sooner or later', async () => {
    const prefix = `${uniqueKey('h')}:`;
    const { root, leaf } = createRedisBucketHierarchy({
      redis: a, prefix, name: 'root', capacity: 10, fillRate: 1, initialTokens: 0,
      children: [{ name: 'leaf', capacity: 10, fillRate: 1000 }],
    });
    await root.consume(0);
    const start = performance.now();
    const faster = leaf.acquire(3); // 3000 ms at the old rate
    await new Promise((r) => setTimeout(r, 100));
    await root!.setLimits({ capacity: 10, fillRate: 20 }); // the rest in about 150 ms
    await faster;
    expect(performance.now() - start).toBeLessThan(2500);
    expect(root!.capacity).toBe(10);
    expect(root!.fillRate).toBe(20);
    await expect(root!.setLimits({ limits: [{ capacity: 1, fillRate: 1 }, { capacity: 1, fillRate: 1 }] })).rejects.toThrow(/one limit/);
    await root!.setLimits({ capacity: 3, fillRate: 20 });
    await expect(leaf!.acquire(4)).rejects.toThrow(RangeError);
  });

  it('limitsFor gives each key its tier, asked on every request; setLimits changes the tiers', async () => {
    const free = { capacity: 2, fillRate: SLOW };
    const pro = [{ capacity: 20, fillRate: SLOW }, { capacity: 100, fillRate: SLOW }];
    let asked = 0;
    const keyed = new RedisKeyedTokenBucket({
      redis: a,
      prefix: `${uniqueKey('tier')}:`,
      limitsFor: (key) => {
        asked++;
        return key.startsWith('pro:') ? pro : free;
      },
    });
    expect([keyed.capacity, keyed.fillRate, keyed.limits]).toEqual([NaN, NaN, []]);
    expect(await keyed.consume('free:1', 2)).toBe(true);
    expect(await keyed.consume('free:1')).toBe(false);
    expect(await keyed.consume('pro:1', 20)).toBe(true);
    expect(await keyed.consume('pro:2', 3)).toBe(true);
    await expect(keyed.acquire('free:2', 3)).rejects.toThrow(RangeError);
    expect((await keyed.take('pro:1', 0)).limits.map((l) => l.capacity)).toEqual([20, 100]);
    expect(asked).toBe(6);
    expect(keyed.limitsOf('pro:7').map((l) => l.capacity)).toEqual([20, 100]);
    // Upgrade free:1: its stored level (0 of 2) carries over; downgrade pro:2 to a capacity below its 17.
    await keyed.setLimits({ limitsFor: (key) => (key === 'free:1' ? pro : free) });
    expect(await keyed.tokens('free:1')).toBeCloseTo(0, 3);
    expect(await keyed.tokens('pro:2')).toBe(2);
    await expect(new RedisKeyedTokenBucket({ redis: a, prefix: 'p:', capacity: 1, fillRate: 1 }).setLimits({ limitsFor: () => free })).rejects.toThrow(/made with limitsFor/);
    expect(() => new RedisKeyedTokenBucket({ redis: a, prefix: 'p:', limitsFor: 3 as never })).toThrow(/limitsFor must be a function/);
    await expect(new RedisKeyedTokenBucket({ redis: a, prefix: 'p:', limitsFor: () => ({ capacity: 0, fillRate: 1 }) }).consume('x')).rejects.toThrow(/limitsFor\("x"\)/);
  });

  it('a keyed limiter\'s new limits apply to every key from its next request on', async () => {
    const keyed = new RedisKeyedTokenBucket({ redis: a, prefix: `${uniqueKey('kset')}:`, capacity: 10, fillRate: SLOW });
    await keyed.consume('a', 3); // 7
    await keyed.setLimits({ capacity: 5, fillRate: SLOW });
    expect([keyed.capacity, keyed.limits.length]).toEqual([5, 1]);
    expect(await keyed.tokens('a')).toBe(5);
    expect(await keyed.tokens('b')).toBe(5);
    expect(await keyed.consume('a', 6)).toBe(false);
  });
});

describe('setLimits while Redis is unreachable', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = new Redis({ port: await freePort(), enableOfflineQueue: false, retryStrategy: () => null, lazyConnect: true });
    redis.on('error', () => {});
  });
  afterAll(() => redis.disconnect());

  it('still applies: the key is refilled at the new limits from its last write instead', async () => {
    const bucket = new RedisTokenBucket({ redis, key: 'down', capacity: 10, fillRate: 1, timeout: 200 });
    await expect(bucket.setLimits({ capacity: 3, fillRate: 2 })).resolves.toBeUndefined();
    expect([bucket.capacity, bucket.fillRate]).toEqual([3, 2]);
  });
});
