// Calls whose caller already has its answer (a timeout) must leave nothing spent or reserved: on a
// redis-server of this file's own, frozen with SIGSTOP so that commands wait in its socket and run
// when it is let go, exactly as after a stall of the server or of the network.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import {
  RedisBucketError,
  RedisKeyedTokenBucket,
  RedisTokenBucket,
  createRedisBucketHierarchy,
} from 'bucketflow/redis';
import { describeRedis, redisPidDir, sleep } from './helpers/env.js';
import { RedisServer } from './helpers/servers.js';

const TIMEOUT = 100;

/** What a test does with one kind of Redis bucket: take without waiting, wait, and read the level. */
interface Subject {
  name: string;
  consume(n: number): Promise<boolean>;
  acquire(n: number, options: { maxWait: number }): Promise<void>;
  tokens(): Promise<number>;
}

let serial = 0;

/** Every Redis kind on `redis`, each on fresh keys, capacity 10, refilling too slowly to matter. */
function subjects(redis: Redis): Subject[] {
  const id = `late:${process.pid}:${serial++}`;
  const slow = { capacity: 10, fillRate: 0.0001, timeout: TIMEOUT };
  const single = new RedisTokenBucket({ redis, key: `${id}:single`, ...slow });
  const multi = new RedisTokenBucket({ redis, key: `${id}:multi`, timeout: TIMEOUT, limits: [{ capacity: 10, fillRate: 0.0001 }, { capacity: 100, fillRate: 0.0001 }] });
  const tree = createRedisBucketHierarchy({ redis, prefix: `${id}:`, name: 'root', capacity: 100, fillRate: 0.0001, timeout: TIMEOUT, children: [{ name: 'leaf', ...{ capacity: 10, fillRate: 0.0001 } }] });
  const keyed = new RedisKeyedTokenBucket({ redis, prefix: `${id}:keyed:`, ...slow });
  return [
    { name: 'RedisTokenBucket', consume: (n) => single.consume(n), acquire: (n, o) => single.acquire(n, o), tokens: () => single.tokens() },
    { name: 'RedisTokenBucket (two limits)', consume: (n) => multi.consume(n), acquire: (n, o) => multi.acquire(n, o), tokens: () => multi.tokens() },
    { name: 'Redis hierarchy leaf', consume: (n) => tree.leaf!.consume(n), acquire: (n, o) => tree.leaf!.acquire(n, o), tokens: () => tree.leaf!.tokens() },
    { name: 'RedisKeyedTokenBucket', consume: (n) => keyed.consume('k', n), acquire: (n, o) => keyed.acquire('k', n, o), tokens: () => keyed.tokens('k') },
  ];
}

/** Settles to the error name, or 'ok' / the boolean. */
const outcome = (p: Promise<unknown>): Promise<string> => p.then((v) => String(v ?? 'ok'), (e: unknown) => (e as Error).name);

describeRedis('Redis calls answered late', 'binary', () => {
  let server: RedisServer;
  let redis: Redis;
  /** A client that cannot read the server's clock (no `time`): late replies are all it has. */
  let blind: Redis;

  beforeAll(async () => {
    server = await RedisServer.start({ pidDir: redisPidDir });
    redis = new Redis(server.url);
    redis.on('error', () => {});
    blind = new Redis(server.url);
    blind.on('error', () => {});
    Object.defineProperty(blind, 'time', { value: undefined });
  });
  afterAll(async () => {
    server.resume();
    redis.disconnect();
    blind.disconnect();
    await server.stop();
  });

  /** Freezes the server while `calls` are made, waits until each has settled, then lets it go. */
  async function whileFrozen<T>(calls: () => Promise<T>[], atLeastMs = 0): Promise<T[]> {
    await server.pause();
    const t0 = performance.now();
    try {
      const settled = await Promise.all(calls());
      const rest = atLeastMs - (performance.now() - t0);
      if (rest > 0) await sleep(rest);
      return settled;
    } finally {
      server.resume();
    }
  }

  it('gives back what a take took or reserved when its reply came after the timeout, on every kind', async () => {
    const all = subjects(blind);
    for (const s of all) expect(await s.tokens(), s.name).toBe(10);
    const results = await whileFrozen(() => all.flatMap((s) => [
      outcome(s.consume(3)),
      outcome(s.acquire(4, { maxWait: 60_000 })),
    ]));
    expect(new Set(results)).toEqual(new Set(['RedisBucketError'])); // no answer within the timeout
    // The server runs both takes when it is let go; their late replies are refunded.
    for (const s of all) {
      const deadline = performance.now() + 3000;
      let level = await s.tokens();
      while (level < 10 - 1e-6 && performance.now() < deadline) {
        await sleep(20);
        level = await s.tokens();
      }
      expect(level, s.name).toBeCloseTo(10, 3);
    }
  });

  it('gives back, key by key, what a batch of takes over several keys took when its reply came late', async () => {
    const keyed = new RedisKeyedTokenBucket({ redis: blind, prefix: `late:${process.pid}:${serial++}:multi:`, capacity: 10, fillRate: 0.0001, timeout: TIMEOUT });
    const keys = ['a', 'b', 'c'];
    for (const k of keys) await keyed.consume(k, 0);
    const results = await whileFrozen(() => keys.flatMap((k, i) => [outcome(keyed.consume(k, 1 + i)), outcome(keyed.consume(k, 2))]));
    expect(new Set(results)).toEqual(new Set(['RedisBucketError']));
    for (const k of keys) {
      const deadline = performance.now() + 3000;
      let level = await keyed.tokens(k);
      while (level < 10 - 1e-6 && performance.now() < deadline) {
        await sleep(20);
        level = await keyed.tokens(k);
      }
      expect(level, k).toBeCloseTo(10, 3);
    }
  });

  it('takes that reach the server long after their caller gave up change nothing, and do not refuse the requests behind them', async () => {
    const all = subjects(redis);
    for (const s of all) expect(await s.tokens(), s.name).toBe(10); // the server's clock is sampled by now
    // Many callers give up while the server is frozen, for longer than twice the timeout.
    const results = await whileFrozen(() => all.flatMap((s) => [
      ...Array.from({ length: 30 }, () => outcome(s.consume(1))),
      ...Array.from({ length: 10 }, () => outcome(s.acquire(1, { maxWait: 60_000 }))),
    ]), 3 * TIMEOUT + 200);
    expect(new Set(results)).toEqual(new Set(['RedisBucketError']));
    // The first request after the stall finds the bucket as it was: the 40 stale takes did nothing.
    for (const s of all) {
      expect(await s.consume(10), s.name).toBe(true);
      expect(await s.tokens(), s.name).toBeCloseTo(0, 3);
    }
  });

  it('a take that reaches the server in time is answered as usual, whatever the stale rule', async () => {
    const all = subjects(redis);
    for (const s of all) {
      expect(await s.consume(4), s.name).toBe(true);
      await s.acquire(6, { maxWait: 0 });
      expect(await s.consume(1), s.name).toBe(false);
      await expect(s.acquire(1, { maxWait: 0 }), s.name).rejects.toThrow(/rate limit exceeded/);
    }
  });

  it('a refused take is not refunded: only what a late reply took goes back', async () => {
    const [s] = subjects(blind);
    expect(await s!.consume(10)).toBe(true);
    const results = await whileFrozen(() => [outcome(s!.consume(5)), outcome(s!.consume(5))]);
    expect(results).toEqual(['RedisBucketError', 'RedisBucketError']);
    await sleep(4 * TIMEOUT);
    expect(await s!.tokens()).toBeCloseTo(0, 3); // nothing was taken by them, nothing given
  });

  it('takes the client queued while the server was away do nothing when it comes back', async () => {
    // Quick reconnects; ioredis keeps commands made while disconnected in its offline queue and
    // sends them once it is connected again.
    const client = new Redis(server.url, { retryStrategy: () => 50 });
    client.on('error', () => {});
    try {
      const all = subjects(client);
      for (const s of all) expect(await s.tokens(), s.name).toBe(10);
      await server.kill();
      const t0 = performance.now();
      const results = await Promise.all(all.flatMap((s) => Array.from({ length: 20 }, () => outcome(s.consume(1)))));
      expect(new Set(results)).toEqual(new Set(['RedisBucketError']));
      await sleep(3 * TIMEOUT + 200 - (performance.now() - t0));
      await server.restart(); // empty (no persistence): every bucket full, unless the queued takes run
      for (const s of all) {
        const deadline = performance.now() + 3000;
        let taken = await s.consume(10).catch(() => undefined);
        while (taken === undefined && performance.now() < deadline) {
          await sleep(50);
          taken = await s.consume(10).catch(() => undefined);
        }
        expect(taken, s.name).toBe(true);
      }
    } finally {
      client.disconnect();
    }
  });

  it('makes RedisBucketError the answer while frozen, and the timeout is what the caller waits', async () => {
    const [s] = subjects(redis);
    const t0 = performance.now();
    const [result] = await whileFrozen(() => [s!.consume(1).catch((e: unknown) => e)]);
    expect(result).toBeInstanceOf(RedisBucketError);
    expect((result as Error).message).toMatch(/no answer from Redis within 100 ms/);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(TIMEOUT - 1);
  });
});
