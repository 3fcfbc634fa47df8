// penalize and reward on Redis are one atomic script each: concurrent calls from several clients
// lose no update, a reward never lifts a level above capacity, and a penalty holds a key down.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { RedisKeyedTokenBucket, RedisTokenBucket, createRedisBucketHierarchy } from 'bucketflow/redis';
import { describeRedis, sharedClient, uniqueKey } from './helpers/env.js';

describeRedis('penalize and reward on Redis', 'shared', () => {
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

  it('200 concurrent penalties and 100 rewards from two clients all count', async () => {
    const key = uniqueKey('pen');
    // Refills too slowly to matter within the test (a token per ~3 hours).
    const limit = { key, capacity: 1000, fillRate: 0.0001 };
    const one = new RedisTokenBucket({ redis: a, ...limit });
    const two = new RedisTokenBucket({ redis: b, ...limit });
    await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? one : two).penalize(1)));
    expect(await one.tokens()).toBeCloseTo(800, 1);
    await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? one : two).reward(1)));
    expect(await one.tokens()).toBeCloseTo(900, 1);
    await one.reward(5000);
    expect(await two.tokens()).toBe(1000);
    await one.penalize(1500);
    expect(await two.tokens()).toBeCloseTo(-500, 1);
    expect(await two.consume(1)).toBe(false);
  });

  it('a keyed penalty holds one key down; a hierarchy\'s reaches every ancestor', async () => {
    const keyed = new RedisKeyedTokenBucket({ redis: a, prefix: `${uniqueKey('penk')}:`, capacity: 5, fillRate: 0.0001 });
    await keyed.penalize('mallory', 10);
    expect(await keyed.consume('mallory')).toBe(false);
    expect(await keyed.consume('alice')).toBe(true);
    expect(await keyed.tokens('mallory')).toBeCloseTo(-5, 1);
    await keyed.reward('mallory', 20);
    expect(await keyed.tokens('mallory')).toBe(5);
    const { root, leaf } = createRedisBucketHierarchy({
      redis: a, prefix: `${uniqueKey('penh')}:`, name: 'root', capacity: 10, fillRate: 0.0001,
      children: [{ name: 'leaf', capacity: 5, fillRate: 0.0001 }],
    });
    await leaf!.penalize(7);
    expect(await leaf!.tokens()).toBeCloseTo(-2, 1);
    expect(await root!.tokens()).toBeCloseTo(3, 1);
    await expect(leaf!.penalize(-1)).rejects.toThrow(RangeError);
  });
});
