// Concurrent non-waiting consume() calls of one limiter share one script call (per hash slot): the
// server decides them one after the other, in call order, exactly as separate calls would be.
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { TokenBucket } from 'bucketflow';
import { RedisBucketError, RedisKeyedTokenBucket, RedisTokenBucket, createRedisBucketHierarchy } from 'bucketflow/redis';
import { describeRedis, sharedClient, uniqueKey } from './helpers/env.js';
import { freePort } from './helpers/servers.js';

/** Counts the commands `redis` sends while `body` runs, by name. */
async function commandsSent<T>(redis: Redis, body: () => Promise<T>): Promise<{ result: T; sent: string[] }> {
  const spy = vi.spyOn(redis, 'sendCommand');
  try {
    const result = await body();
    return { result, sent: spy.mock.calls.map(([command]) => (command as { name: string }).name) };
  } finally {
    spy.mockRestore();
  }
}

describeRedis('RedisTokenBucket: concurrent consume() calls share a script call', 'shared', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = sharedClient();
    // ioredis sends a script's first call as EVAL (and its connection handshake): get that done.
    const warm = new RedisTokenBucket({ redis, key: uniqueKey('warm'), capacity: 5, fillRate: 1 });
    await warm.consume(1);
    await Promise.all([warm.consume(1), warm.consume(1)]);
  });
  afterAll(() => redis.disconnect());

  it('decides the calls of one tick in call order, in one script call', async () => {
    const bucket = new RedisTokenBucket({ redis, key: uniqueKey('batch'), capacity: 10, fillRate: 0.001 });
    const wants = [4, 20, 3, 5, 2, 1, 1];
    const { result, sent } = await commandsSent(redis, () => Promise.all(wants.map((n) => bucket.consume(n))));
    // 4 taken (6 left); 20 never fits; 3 taken (3 left); 5 refused; 2 taken (1 left); 1 taken; 1 refused.
    expect(result).toEqual([true, false, true, false, true, true, false]);
    expect(sent).toEqual(['evalsha']); // 20 > capacity is refused without asking Redis
    expect(await bucket.tokens()).toBeCloseTo(0, 2);
  });

  it('a take of 0 is always true, and a lone call is sent alone', async () => {
    const bucket = new RedisTokenBucket({ redis, key: uniqueKey('batch0'), capacity: 2, fillRate: 0.001 });
    expect(await bucket.consume(2)).toBe(true);
    const { result } = await commandsSent(redis, () => Promise.all([bucket.consume(1), bucket.consume(0), bucket.consume(1)]));
    expect(result).toEqual([false, true, false]);
  });

  it('calls woken together by replies are gathered again (64 callers: far fewer script calls than calls)', async () => {
    const bucket = new RedisTokenBucket({ redis, key: uniqueKey('batch64'), capacity: 1e9, fillRate: 1e9 });
    let calls = 0;
    const { sent } = await commandsSent(redis, () => Promise.all(Array.from({ length: 64 }, async () => {
      for (let i = 0; i < 20; i++) {
        expect(await bucket.consume(1)).toBe(true);
        calls++;
      }
    })));
    expect(calls).toBe(1280);
    expect(sent.length).toBeLessThan(calls / 4);
  });

  it('a waiting call made after a non-waiting one in the same tick does not pass it', async () => {
    const bucket = new RedisTokenBucket({ redis, key: uniqueKey('order'), capacity: 3, fillRate: 0.001 });
    const first = bucket.consume(2);
    const second = bucket.acquire(2, { maxWait: 0 }).then(() => 'taken', (e: unknown) => (e as Error).name);
    const third = bucket.consume(1);
    expect(await first).toBe(true); // had it gone second, acquire would have taken 2 and this one failed
    expect(await second).toBe('RateLimitExceeded');
    expect(await third).toBe(true);
  });

  it('a delete made after a consume in the same tick comes after it', async () => {
    const keyed = new RedisKeyedTokenBucket({ redis, prefix: `${uniqueKey('kd')}:`, capacity: 2, fillRate: 0.001 });
    const taken = keyed.consume('a', 2);
    const deleted = keyed.delete('a');
    expect(await taken).toBe(true);
    expect(await deleted).toBe(true); // the consume had written the key
    expect(await keyed.consume('a', 2)).toBe(true); // a new bucket
  });

  it('the keyed limiter gathers across keys: the calls of one tick, whatever their keys, in one script call', async () => {
    const prefix = `${uniqueKey('kb')}:`;
    const keyed = new RedisKeyedTokenBucket({ redis, prefix, capacity: 2, fillRate: 0.001 });
    const { result, sent } = await commandsSent(redis, () => Promise.all([
      keyed.consume('a'), keyed.consume('b'), keyed.consume('a'), keyed.consume('a'), keyed.consume('b'),
    ]));
    expect(result).toEqual([true, true, true, false, true]);
    expect(sent).toEqual(['evalsha']);
  });

  it('gathered calls over many keys get exactly the answers separate calls get, in call order', async () => {
    // A fixed pseudo-random sequence of (key, n): the same calls, gathered in one tick on one
    // limiter and made one at a time on a twin, leave the same answers and the same levels.
    let seed = 7;
    const next = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const calls = Array.from({ length: 300 }, () => ({ key: `k${Math.floor(next() * 12)}`, n: [0.5, 1, 2, 3][Math.floor(next() * 4)]! }));
    const limit = { capacity: 5, fillRate: 0.001, initialTokens: 4 };
    const gathered = new RedisKeyedTokenBucket({ redis, prefix: `${uniqueKey('g')}:`, ...limit });
    const separate = new RedisKeyedTokenBucket({ redis, prefix: `${uniqueKey('s')}:`, ...limit });
    const { result, sent } = await commandsSent(redis, () => Promise.all(calls.map((c) => gathered.consume(c.key, c.n))));
    expect(sent).toEqual(Array(10).fill('evalsha')); // 300 calls: 9 full batches of 32, then the rest
    const one: boolean[] = [];
    for (const c of calls) one.push(await separate.consume(c.key, c.n));
    expect(result).toEqual(one);
    expect(result.filter(Boolean).length).toBeGreaterThan(20); // some taken, some refused
    expect(result.filter((r) => !r).length).toBeGreaterThan(20);
    for (let k = 0; k < 12; k++) expect(await gathered.tokens(`k${k}`)).toBeCloseTo(await separate.tokens(`k${k}`), 2);
  });

  it('a burst larger than one batch is sent as full batches of 32 at once, in call order (9,000 keys, each asked twice)', async () => {
    const keyed = new RedisKeyedTokenBucket({ redis, prefix: `${uniqueKey('wide')}:`, capacity: 1, fillRate: 0.001 });
    const keys = Array.from({ length: 9000 }, (_, i) => `k${i}`);
    const { result, sent } = await commandsSent(redis, () => Promise.all([...keys, ...keys].map((k) => keyed.consume(k))));
    expect(sent).toEqual(Array(Math.ceil(18000 / 32)).fill('evalsha'));
    expect(result.slice(0, 9000).every((r) => r)).toBe(true); // each key's first call takes its token
    expect(result.slice(9000).some((r) => r)).toBe(false); // and its second finds none
    expect(await keyed.tokens('k8999')).toBeLessThan(0.01);
  });

  it('a key holding something else fails only its own calls; the other keys of the batch are answered', async () => {
    const prefix = `${uniqueKey('mixed')}:`;
    await redis.set(`${prefix}broken`, 'not a bucket');
    const keyed = new RedisKeyedTokenBucket({ redis, prefix, capacity: 2, fillRate: 0.001 });
    const results = await Promise.allSettled([keyed.consume('ok'), keyed.consume('broken'), keyed.consume('ok'), keyed.consume('ok')]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'rejected'))).toEqual([true, 'rejected', true, false]);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/key .*broken holds a value that is not a bucket state/);
    const denying = new RedisKeyedTokenBucket({ redis, prefix, capacity: 2, fillRate: 0.001, onRedisError: 'deny' });
    expect(await Promise.all([denying.consume('broken'), denying.consume('fresh')])).toEqual([false, true]);
    expect(await redis.get(`${prefix}broken`)).toBe('not a bucket');
  });

  it('a wrong-type value at the key rejects every call of the batch with the clear error', async () => {
    const key = uniqueKey('wrong');
    await redis.set(key, 'not a bucket');
    const bucket = new RedisTokenBucket({ redis, key, capacity: 5, fillRate: 1 });
    const results = await Promise.allSettled([bucket.consume(1), bucket.consume(2)]);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect(String((r as PromiseRejectedResult).reason)).toMatch(/holds a value that is not a bucket state/);
    }
  });

  /** A fixed pseudo-random sequence of numbers in [0, 1). */
  const sequence = (seed: number) => () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  const SIZES = [0.5, 1, 2, 3];

  it('several limits: a bucket\'s calls of one tick go in one script call, answered as separate calls are', async () => {
    const next = sequence(11);
    const wants = Array.from({ length: 40 }, () => SIZES[Math.floor(next() * 4)]!);
    const limits = [{ capacity: 8, fillRate: 0.001 }, { capacity: 20, fillRate: 0.0001, initialTokens: 15 }];
    const gathered = new RedisTokenBucket({ redis, key: uniqueKey('ml-g'), limits });
    const separate = new RedisTokenBucket({ redis, key: uniqueKey('ml-s'), limits });
    const { result, sent } = await commandsSent(redis, () => Promise.all(wants.map((n) => gathered.consume(n))));
    expect(sent).toHaveLength(2); // a full batch of 32, then 8 (the first may be an EVAL)
    const one: boolean[] = [];
    for (const n of wants) one.push(await separate.consume(n));
    expect(result).toEqual(one);
    expect(result.filter(Boolean).length).toBeGreaterThan(3);
    expect(result.filter((r) => !r).length).toBeGreaterThan(3);
    expect(await gathered.tokens()).toBeCloseTo(await separate.tokens(), 2);
  });

  it('several limits per key: a keyed limiter gathers across keys, answered as separate calls are', async () => {
    const next = sequence(5);
    const calls = Array.from({ length: 200 }, () => ({ key: `k${Math.floor(next() * 8)}`, n: SIZES[Math.floor(next() * 4)]! }));
    const limits = [{ capacity: 6, fillRate: 0.001 }, { capacity: 9, fillRate: 0.0001, initialTokens: 7 }];
    const gathered = new RedisKeyedTokenBucket({ redis, prefix: `${uniqueKey('kml-g')}:`, limits });
    const separate = new RedisKeyedTokenBucket({ redis, prefix: `${uniqueKey('kml-s')}:`, limits });
    const { result, sent } = await commandsSent(redis, () => Promise.all(calls.map((c) => gathered.consume(c.key, c.n))));
    expect(sent).toHaveLength(Math.ceil(calls.length / 32)); // full batches of 32 (the first may be an EVAL)
    const one: boolean[] = [];
    for (const c of calls) one.push(await separate.consume(c.key, c.n));
    expect(result).toEqual(one);
    expect(result.filter(Boolean).length).toBeGreaterThan(10);
    expect(result.filter((r) => !r).length).toBeGreaterThan(10);
    for (let k = 0; k < 8; k++) expect(await gathered.tokens(`k${k}`)).toBeCloseTo(await separate.tokens(`k${k}`), 2);
  });

  it('a hierarchy: calls on its nodes in one tick go in one script call, answered as separate calls are', async () => {
    const config = {
      name: 'api', capacity: 12, fillRate: 0.001,
      children: [
        { name: 'search', capacity: 5, fillRate: 0.0005 },
        { name: 'upload', capacity: 4, fillRate: 0.001, initialTokens: 3, children: [{ name: 'big', capacity: 3, fillRate: 0.001 }] },
      ],
    };
    const gathered = createRedisBucketHierarchy({ redis, prefix: `${uniqueKey('h-g')}:`, ...config });
    const separate = createRedisBucketHierarchy({ redis, prefix: `${uniqueKey('h-s')}:`, ...config });
    await Promise.all([gathered.api!.tokens(), separate.api!.tokens()]); // any start-up writes done
    const next = sequence(3);
    const names = ['api', 'search', 'upload', 'big'] as const;
    const calls = Array.from({ length: 60 }, () => ({ node: names[Math.floor(next() * 4)]!, n: SIZES[Math.floor(next() * 4)]! }));
    const { result, sent } = await commandsSent(redis, () => Promise.all(calls.map((c) => gathered[c.node]!.consume(c.n))));
    expect(sent).toHaveLength(Math.ceil(calls.length / 32)); // full batches of 32 (the first may be an EVAL)
    const one: boolean[] = [];
    for (const c of calls) one.push(await separate[c.node]!.consume(c.n));
    expect(result).toEqual(one);
    expect(result.filter(Boolean).length).toBeGreaterThan(5);
    expect(result.filter((r) => !r).length).toBeGreaterThan(5);
    for (const name of names) expect(await gathered[name]!.tokens()).toBeCloseTo(await separate[name]!.tokens(), 2);
  });

  it('a chain with a key holding something else fails only the calls on that chain', async () => {
    const prefix = `${uniqueKey('h-bad')}:`;
    const tree = createRedisBucketHierarchy({
      redis, prefix, name: 'root', capacity: 10, fillRate: 0.001,
      children: [{ name: 'bad', capacity: 5, fillRate: 0.001 }, { name: 'good', capacity: 5, fillRate: 0.001 }],
    });
    await redis.set(`${prefix}{root}:bad`, 'not a bucket');
    const results = await Promise.allSettled([tree.good!.consume(2), tree.bad!.consume(1), tree.root!.consume(3), tree.good!.consume(4)]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'rejected'))).toEqual([true, 'rejected', true, false]);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/a key of .*\{root\}:bad.* holds a value that is not a bucket state/);
    expect(await redis.get(`${prefix}{root}:bad`)).toBe('not a bucket');
  });

  it('when Redis fails, each call of the batch gets its own answer from the policy', async () => {
    const { Redis: Client } = await import('ioredis');
    const dead = new Client({ port: await freePort(), lazyConnect: true, enableOfflineQueue: false });
    dead.on('error', () => {});
    try {
      const insurance = new TokenBucket({ capacity: 2, fillRate: 0 });
      const insured = new RedisTokenBucket({ redis: dead, key: 'k', capacity: 5, fillRate: 1, onRedisError: insurance });
      expect(await Promise.all([insured.consume(1), insured.consume(1), insured.consume(1)])).toEqual([true, true, false]);
      const strict = new RedisTokenBucket({ redis: dead, key: 'k', capacity: 5, fillRate: 1 });
      const results = await Promise.allSettled([strict.consume(1), strict.consume(1)]);
      for (const r of results) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(RedisBucketError);
    } finally {
      dead.disconnect();
    }
  });
});
