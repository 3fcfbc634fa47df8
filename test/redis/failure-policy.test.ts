// The failure policy and the options around it, checked where mistakes would otherwise surface
// only during an outage; and keys holding values that are not a bucket state.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { KeyedTokenBucket, RateLimitExceeded, TokenBucket } from 'bucketflow';
import { RedisBucketError, RedisKeyedTokenBucket, RedisTokenBucket, createRedisBucketHierarchy } from 'bucketflow/redis';
import { describeRedis, sharedClient, sleep, uniqueKey } from './helpers/env.js';
import { freePort } from './helpers/servers.js';
import { encodeState } from './helpers/state.js';

describe('Redis options checked at construction (nothing is sent)', () => {
  const redis = new Redis({ lazyConnect: true });
  afterAll(() => redis.disconnect());
  const limit = { capacity: 5, fillRate: 1 };

  it('onRedisError of the wrong kind is refused: a keyed fallback for one bucket, a single bucket for keys', () => {
    const keyed = new KeyedTokenBucket(limit);
    const single = new TokenBucket(limit);
    expect(() => new RedisTokenBucket({ redis, key: 'k', ...limit, onRedisError: keyed as never })).toThrow(/single bucket \(e\.g\. a TokenBucket\), not a keyed limiter/);
    expect(() => new RedisKeyedTokenBucket({ redis, prefix: 'p:', ...limit, onRedisError: single as never })).toThrow(/keyed limiter \(e\.g\. a KeyedTokenBucket\), not a single bucket/);
    const otherRedisKeyed = new RedisKeyedTokenBucket({ redis, prefix: 'q:', ...limit });
    expect(() => new RedisTokenBucket({ redis, key: 'k', ...limit, onRedisError: otherRedisKeyed as never })).toThrow(TypeError);
    // The right kinds are accepted.
    expect(() => new RedisTokenBucket({ redis, key: 'k', ...limit, onRedisError: single })).not.toThrow();
    expect(() => new RedisKeyedTokenBucket({ redis, prefix: 'p:', ...limit, onRedisError: keyed })).not.toThrow();
    expect(() => new RedisTokenBucket({ redis, key: 'k', ...limit, onRedisError: 'nope' as never })).toThrow(/onRedisError must be 'throw', 'allow', 'deny' or a local bucket \(e\.g\. a TokenBucket\), got "nope"/);
  });

  it('a Redis hierarchy takes the same policies as a single bucket, a local single bucket included', () => {
    const single = new TokenBucket(limit);
    const keyed = new KeyedTokenBucket(limit);
    for (const onRedisError of ['throw', 'allow', 'deny', single] as const) {
      expect(() => createRedisBucketHierarchy({ redis, name: 'a', ...limit, onRedisError })).not.toThrow();
    }
    expect(() => createRedisBucketHierarchy({ redis, name: 'a', ...limit, onRedisError: keyed as never })).toThrow(/single bucket \(e\.g\. a TokenBucket\), not a keyed limiter/);
    expect(() => createRedisBucketHierarchy({ redis, name: 'a', ...limit, onRedisError: 42 as never })).toThrow(/onRedisError must be 'throw', 'allow', 'deny' or a local bucket \(e\.g\. a TokenBucket\), got 42/);
  });

  it('a timeout that timers cannot wait is refused, and so is one that is not a positive number', () => {
    expect(() => new RedisTokenBucket({ redis, key: 'k', ...limit, timeout: 2 ** 31 })).toThrow(/timeout must be at most 2147483647 ms/);
    expect(() => new RedisKeyedTokenBucket({ redis, prefix: 'p:', ...limit, timeout: 1e12 })).toThrow(RangeError);
    expect(() => createRedisBucketHierarchy({ redis, name: 'a', ...limit, timeout: Infinity })).toThrow(RangeError);
    expect(() => new RedisTokenBucket({ redis, key: 'k', ...limit, timeout: 2 ** 31 - 1 })).not.toThrow();
    expect(() => new RedisTokenBucket({ redis, key: 'k', ...limit, timeout: 0 })).toThrow(/timeout must be a finite number > 0/);
  });

  it('a key or prefix of the wrong type is named in the error, BigInt included', () => {
    expect(() => new RedisTokenBucket({ redis, key: 5n as never, ...limit })).toThrow(/key must be a non-empty string \(the Redis key of the bucket\), got 5n/);
    expect(() => new RedisKeyedTokenBucket({ redis, prefix: 5n as never, ...limit })).toThrow(/prefix must be a non-empty string \(keys live at prefix \+ key\), got 5n/);
    expect(() => createRedisBucketHierarchy({ redis, prefix: 5n as never, name: 'a', ...limit })).toThrow(/prefix must be a string without \{ or \}.*got 5n/);
    expect(() => new RedisTokenBucket({ redis, key: '', ...limit })).toThrow(/key must be a non-empty string/);
    expect(() => new RedisTokenBucket({ redis, key: Symbol('k') as never, ...limit })).toThrow(/got a symbol/);
    const keyed = new RedisKeyedTokenBucket({ redis, prefix: 'p:', ...limit });
    return expect(keyed.consume(5n as never)).rejects.toThrow(/key must be a string, got 5n/);
  });
});

describe('a local fallback asked while Redis is unreachable', () => {
  let redis: Redis;
  beforeAll(async () => {
    // Nothing listens on the port, and commands fail at once instead of waiting for a connection.
    redis = new Redis({ port: await freePort(), enableOfflineQueue: false, retryStrategy: () => null, lazyConnect: true });
    redis.on('error', () => {});
  });
  afterAll(() => redis.disconnect());

  it('answers a non-waiting consume larger than the fallback with false, and acquire with RateLimitExceeded', async () => {
    const fallback = new TokenBucket({ capacity: 2, fillRate: 1 });
    const b = new RedisTokenBucket({ redis, key: 'down', capacity: 10, fillRate: 5, onRedisError: fallback });
    expect(await b.consume(5)).toBe(false);
    expect(await b.consume(2)).toBe(true); // the fallback's own tokens
    expect(await b.consume(1)).toBe(false);
    const refused = await b.acquire(5, { maxWait: 60_000 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitExceeded);
    expect((refused as RateLimitExceeded).retryAfter).toBe(Infinity);
    expect((refused as Error).message).toMatch(/local fallback bucket's capacity \(2\) is below n \(5\)/);
  });

  it('does the same for a keyed fallback, per key', async () => {
    const fallback = new KeyedTokenBucket({ capacity: 2, fillRate: 1 });
    const b = new RedisKeyedTokenBucket({ redis, prefix: 'down:', capacity: 10, fillRate: 5, onRedisError: fallback });
    expect(await b.consume('alice', 5)).toBe(false);
    expect(await b.consume('alice', 2)).toBe(true);
    expect(await b.consume('alice', 1)).toBe(false);
    expect(await b.consume('bob', 2)).toBe(true); // bob has a fallback bucket of his own
    await expect(b.acquire('carol', 3, { maxWait: 0 })).rejects.toBeInstanceOf(RateLimitExceeded);
  });

  it('asks one local fallback bucket for every bucket of a Redis hierarchy', async () => {
    const fallback = new TokenBucket({ capacity: 3, fillRate: 0.001 });
    const { root, leaf } = createRedisBucketHierarchy({
      redis, name: 'root', capacity: 10, fillRate: 5, onRedisError: fallback, children: [{ name: 'leaf', capacity: 5, fillRate: 1 }],
    });
    expect(await leaf!.consume(2)).toBe(true);
    expect(await root!.consume(1)).toBe(true);
    expect(await root!.consume(1)).toBe(false); // the fallback's 3 tokens are spent, whichever bucket asked
    await expect(leaf!.acquire(4, { maxWait: 0 })).rejects.toBeInstanceOf(RateLimitExceeded);
    await expect(leaf!.tokens()).rejects.toBeInstanceOf(RedisBucketError); // reads never fall back
  });

  it("rejects with RedisBucketError under the default policy ('throw')", async () => {
    const b = new RedisTokenBucket({ redis, key: 'down', capacity: 10, fillRate: 5 });
    await expect(b.consume(1)).rejects.toBeInstanceOf(RedisBucketError);
  });
});

describeRedis('keys holding a value that is not a bucket state', 'shared', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = sharedClient();
  });
  afterAll(() => redis.disconnect());

  // Text (what another program, or an older state format, left there), a state's length without
  // its format byte, a state cut short, and states whose numbers are not finite.
  const values: [string, Buffer][] = [
    ...['5 -1e400', 'hello', '5', '1764547200000.123 5', 'abcdefghijklmnopq'].map((v): [string, Buffer] => [JSON.stringify(v), Buffer.from(v)]),
    ['format byte 2', Buffer.concat([Buffer.from([2]), encodeState(1, 5).subarray(1)])],
    ['a state cut short', encodeState(1, 5).subarray(0, 16)],
    ['a NaN level', encodeState(1, Number.NaN)],
    ['an infinite level', encodeState(1, Infinity)],
    ['an infinite time', encodeState(-Infinity, 5)],
  ];
  for (const [name, value] of values) {
    it(`${name} is refused as not a state by every script, and left as it was`, async () => {
      const key = uniqueKey('not-state');
      await redis.set(key, value);
      const one = new RedisTokenBucket({ redis, key, capacity: 10, fillRate: 1 });
      const two = new RedisTokenBucket({ redis, key, limits: [{ capacity: 10, fillRate: 1 }, { capacity: 20, fillRate: 1 }] });
      const message = /holds a value that is not a bucket state/;
      await expect(one.consume(1)).rejects.toThrow(message);
      await expect(one.acquire(1, { maxWait: 1000 })).rejects.toThrow(message);
      await expect(two.consume(1)).rejects.toThrow(message);
      await expect(two.tokens()).rejects.toThrow(message);
      await expect(Promise.all([one.consume(1), one.consume(2)])).rejects.toThrow(message); // gathered
      expect(await redis.getBuffer(key)).toEqual(value);
      const allowing = new RedisTokenBucket({ redis, key, capacity: 10, fillRate: 1, onRedisError: 'deny' });
      expect(await allowing.consume(1)).toBe(false); // the policy answers, as for any Redis error
    });
  }
});

describeRedis('Redis waiters and zero-token requests', 'shared', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = sharedClient();
  });
  afterAll(() => redis.disconnect());

  it('many waiters share one AbortSignal without MaxListenersExceededWarning, and its abort gives all their tokens back', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const b = new RedisTokenBucket({ redis, key: uniqueKey('shared-signal'), capacity: 1, fillRate: 0.01, initialTokens: 0 });
      const ctl = new AbortController();
      const waits = Array.from({ length: 30 }, () => b.acquire(1, { signal: ctl.signal }).catch((e: unknown) => e));
      while ((await b.tokens()) > -29.5) await new Promise((r) => setTimeout(r, 10)); // all reserved
      const reason = new Error('request closed');
      ctl.abort(reason);
      expect(new Set(await Promise.all(waits))).toEqual(new Set([reason]));
      const deadline = performance.now() + 3000;
      while ((await b.tokens()) < -1e-3 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(await b.tokens()).toBeCloseTo(0, 2);
      await new Promise((r) => setImmediate(r));
      expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('acquire(0) resolves at once while this process has waiters asleep on the key', async () => {
    const b = new RedisTokenBucket({ redis, key: uniqueKey('zero'), capacity: 1, fillRate: 0.01, initialTokens: 0 });
    const ctl = new AbortController();
    const asleep = b.acquire(1, { signal: ctl.signal }).catch(() => 'aborted');
    while ((await b.tokens()) > -0.5) await new Promise((r) => setTimeout(r, 10));
    // Before the sleeper's token (100 s away), not after it.
    const first = await Promise.race([b.acquire(0, { maxWait: 0 }).then(() => 'resolved'), sleep(2000).then(() => 'still asleep')]);
    expect(first).toBe('resolved');
    expect(await b.consume(0)).toBe(true);
    ctl.abort();
    expect(await asleep).toBe('aborted');
  });
});
