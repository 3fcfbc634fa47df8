import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { KeyedTokenBucket } from 'bucketflow';
import { RateLimitExceeded, RedisBucketError, RedisKeyedTokenBucket, createRedisBucketHierarchy } from 'bucketflow/redis';
import { describeRedis, sharedClient, sleep, uniqueKey } from './helpers/env.js';
import { freePort } from './helpers/servers.js';

describeRedis('createRedisBucketHierarchy', 'shared', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = sharedClient();
  });
  afterAll(() => redis.disconnect());

  const tree = (prefix: string) => createRedisBucketHierarchy({
    redis, prefix, name: 'api', capacity: 3, fillRate: 0.001,
    children: [
      { name: 'search', capacity: 2, fillRate: 0.001 },
      { name: 'upload', capacity: 5, fillRate: 0.001, children: [{ name: 'big', capacity: 5, fillRate: 0.001 }] },
    ],
  });

  it('returns every bucket by name, with keys sharing the root\'s hash tag', () => {
    const { api, search, upload, big } = tree('rl:');
    expect(api.parent).toBeUndefined();
    expect(search.parent).toBe(api);
    expect(big.parent).toBe(upload);
    expect(api.children).toEqual([search, upload]);
    expect(big.key).toBe('rl:{api}:big');
    for (const b of [api, search, upload, big]) expect(b.key).toMatch(/^rl:\{api\}:/);
  });

  it('charges the bucket and every ancestor in one step, all or nothing', async () => {
    const prefix = `${uniqueKey('h')}:`;
    const { api, search, upload, big } = tree(prefix);
    expect(await search.consume(2)).toBe(true); // search 0, api 1
    expect(await big.consume(2)).toBe(false); // api is short: big and upload keep theirs
    expect(await big.tokens()).toBe(5);
    expect(await upload.tokens()).toBe(5);
    expect(await big.consume(1)).toBe(true); // big 4, upload 4, api 0
    expect(await upload.tokens()).toBeCloseTo(4, 2);
    expect(await api.tokens()).toBeCloseTo(0, 2);
    expect(await api.consume(0.5)).toBe(false);
  });

  it('refuses what no level on the chain can ever hold', async () => {
    const { search } = tree(`${uniqueKey('h')}:`);
    expect(await search.consume(3)).toBe(false);
    await expect(search.acquire(3)).rejects.toBeInstanceOf(RangeError); // search holds 2
    await expect(search.consume(3, { block: true })).rejects.toBeInstanceOf(RangeError);
  });

  it('waits for the slowest level, and an abort gives every level its tokens back', async () => {
    const { root, leaf } = createRedisBucketHierarchy({
      redis, prefix: `${uniqueKey('h')}:`, name: 'root', capacity: 10, fillRate: 5, initialTokens: 0,
      children: [{ name: 'leaf', capacity: 10, fillRate: 100, initialTokens: 0 }],
    });
    const err = (await leaf.acquire(2, { maxWait: 0 }).catch((e: unknown) => e)) as RateLimitExceeded;
    expect(err).toBeInstanceOf(RateLimitExceeded);
    expect(err.retryAfter).toBeGreaterThan(250); // root: 2 tokens at 5/s (the leaf needs 20 ms)
    const t0 = performance.now();
    await leaf.acquire(2);
    expect(performance.now() - t0).toBeGreaterThan(200);
    const ctl = new AbortController();
    const waiting = leaf.acquire(5, { signal: ctl.signal }).catch((e: Error) => e.name);
    // The reservation and, after the abort, its refund are script calls of their own: wait for
    // what the server says rather than for a fixed time.
    const until = async (done: () => Promise<boolean>) => {
      for (const deadline = performance.now() + 5000; !(await done()) && performance.now() < deadline;) await sleep(10);
    };
    await until(async () => (await root.tokens()) < -4);
    expect(await root.tokens()).toBeLessThan(-4);
    ctl.abort();
    expect(await waiting).toBe('AbortError');
    await until(async () => (await root.tokens()) > -0.1);
    expect(await root.tokens()).toBeGreaterThan(-0.1);
    // The leaf (100/s) is back above 0, or already full again: then its key is gone and it reads
    // as a new bucket, at its initial 0 tokens.
    const leafLevel = await leaf.tokens();
    expect(leafLevel > 0 || (await redis.exists(leaf.key)) === 0, `leaf at ${leafLevel}`).toBe(true);
  });

  it('checks the config before sending anything, naming the bad node', () => {
    expect(() => createRedisBucketHierarchy({ redis, name: 'a', capacity: 1, fillRate: 1, children: [{ name: 'b', capacity: -1, fillRate: 1 }] }))
      .toThrow(/createRedisBucketHierarchy: node "b".*capacity must be a finite number > 0, got -1/);
    expect(() => createRedisBucketHierarchy({ redis, name: 'a', capacity: 1, fillRate: 1, children: [{ name: 'a', capacity: 1, fillRate: 1 }] }))
      .toThrow(/duplicate name "a"/);
    expect(() => createRedisBucketHierarchy({ redis, prefix: 'x{y}', name: 'a', capacity: 1, fillRate: 1 })).toThrow(/prefix must be a string without \{ or \}/);
    expect(() => createRedisBucketHierarchy({ name: 'a', capacity: 1, fillRate: 1 } as never)).toThrow(/redis must be a Redis client/);
    expect(() => createRedisBucketHierarchy({ redis, name: 'a', capacity: 1, fillRate: 1, clock: {} } as never)).toThrow(/unknown option "clock"/);
  });
});

describeRedis('RedisKeyedTokenBucket', 'shared', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = sharedClient();
  });
  afterAll(() => redis.disconnect());

  it('keeps one bucket per client key under the prefix, each expiring when full', async () => {
    const prefix = `${uniqueKey('keyed')}:`;
    // 2 tokens at 0.5/s: an emptied bucket is full again, and its key expires, 4 s after its take.
    const keyed = new RedisKeyedTokenBucket({ redis, prefix, capacity: 2, fillRate: 0.5 });
    const aliceSent = performance.now();
    expect(await keyed.consume('alice', 2)).toBe(true);
    expect(await keyed.consume('alice')).toBe(false);
    const bobSent = performance.now();
    expect(await keyed.consume('bob', 2)).toBe(true); // bob has his own bucket
    expect(await redis.exists(`${prefix}alice`, `${prefix}bob`)).toBe(2);
    // Each key expires when its bucket would be full: 4 s after its take, which the server ran
    // between the call's sending and this reply. The expiry is that time rounded up to a whole ms,
    // and PTTL counts from the current ms rounded down: read within the same ms, 4001.
    for (const [key, sent] of [['alice', aliceSent], ['bob', bobSent]] as const) {
      const pttl = await redis.pttl(`${prefix}${key}`);
      expect(pttl).toBeLessThanOrEqual(4001);
      expect(pttl).toBeGreaterThanOrEqual(4000 - (performance.now() - sent) - 1);
    }
    expect(await keyed.timeUntil('carol', 2)).toBe(0);
    expect(await keyed.tokens('carol')).toBe(2);
    // And a key goes once that time has passed: dave's bucket is full again 50 ms after his take.
    const daveSent = performance.now();
    expect(await keyed.consume('dave', 0.025)).toBe(true);
    const davePttl = await redis.pttl(`${prefix}dave`);
    expect(davePttl).not.toBe(-1); // set to expire, not kept (-2: gone already)
    expect(davePttl).toBeLessThanOrEqual(51); // 50 ms, rounded up to whole ms
    while (await redis.exists(`${prefix}dave`)) {
      expect(performance.now() - daveSent, 'dave\'s key outlived its expiry').toBeLessThan(5000);
      await sleep(10);
    }
    expect(performance.now() - daveSent).toBeGreaterThanOrEqual(50); // not before its time
  });

  it('supports several limits and the waiting forms per key', async () => {
    const keyed = new RedisKeyedTokenBucket({
      redis, prefix: `${uniqueKey('keyed')}:`,
      limits: [{ capacity: 5, fillRate: 50 }, { capacity: 3, fillRate: 0.001 }],
    });
    expect(keyed.capacity).toBe(3);
    expect(await keyed.consume('u', 3)).toBe(true);
    const err = (await keyed.acquire('u', 1, { maxWait: 0 }).catch((e: unknown) => e)) as RateLimitExceeded;
    expect(err.retryAfter).toBeGreaterThan(900_000); // the slow limit decides
    expect(await keyed.consume('u', 1, { block: true, maxWait: 1000 })).toBe(false);
    await expect(keyed.acquire('u', 4)).rejects.toBeInstanceOf(RangeError);
    await expect(keyed.consume(7 as never)).rejects.toThrow(/key must be a string/);
  });

  it('delete resets one key: its next request starts a new bucket; other keys keep theirs', async () => {
    const prefix = `${uniqueKey('keyed')}:`;
    const keyed = new RedisKeyedTokenBucket({ redis, prefix, capacity: 2, fillRate: 0 });
    expect(await keyed.consume('a', 2)).toBe(true);
    expect(await keyed.consume('b', 2)).toBe(true);
    expect(await keyed.delete('a')).toBe(true);
    expect(await redis.exists(`${prefix}a`)).toBe(0);
    expect(await keyed.delete('a')).toBe(false); // nothing held any more
    expect(await keyed.consume('a', 2)).toBe(true);
    expect(await keyed.consume('b')).toBe(false);
    await expect(keyed.delete(7 as never)).rejects.toThrow(/key must be a string/);
  });

  it('checks options before sending anything', () => {
    expect(() => new RedisKeyedTokenBucket({ redis, capacity: 1, fillRate: 1 } as never)).toThrow(/prefix must be a non-empty string/);
    expect(() => new RedisKeyedTokenBucket({ redis, prefix: 'p:', capacity: 1 } as never)).toThrow(/fillRate is required/);
    expect(() => new RedisKeyedTokenBucket({ redis, prefix: 'p:', capacity: 1, fillRate: 1, maxKeys: 5 } as never)).toThrow(/unknown option "maxKeys"/);
    expect(() => new RedisKeyedTokenBucket({ redis, prefix: 'p:', capacity: 1, fillRate: 1, onRedisError: 42 } as never)).toThrow(/onRedisError/);
  });

  it('falls back to a local keyed limiter, key by key, when Redis fails', async () => {
    const { Redis: Client } = await import('ioredis');
    const dead = new Client({ port: await freePort(), lazyConnect: true, enableOfflineQueue: false });
    dead.on('error', () => {});
    const local = new KeyedTokenBucket({ capacity: 1, fillRate: 0 });
    const keyed = new RedisKeyedTokenBucket({ redis: dead, prefix: 'p:', capacity: 1, fillRate: 0, onRedisError: local });
    expect(await keyed.consume('a')).toBe(true);
    expect(await keyed.consume('a')).toBe(false);
    expect(await keyed.consume('b')).toBe(true);
    const strict = new RedisKeyedTokenBucket({ redis: dead, prefix: 'p:', capacity: 1, fillRate: 0 });
    await expect(strict.consume('a')).rejects.toBeInstanceOf(RedisBucketError);
    await expect(strict.timeUntil('a')).rejects.toThrow(/RedisKeyedTokenBucket key "p:a": Redis call failed/);
    // A reset that did not happen is never hidden by the policy.
    await expect(keyed.delete('a')).rejects.toBeInstanceOf(RedisBucketError);
    dead.disconnect();
  });
});
