// The circuit breaker and the Redis events, against a redis-server of this file's own that the
// tests stop and start again: while the circuit is open calls are answered by the failure policy
// at once, a probe after resetAfter closes it, and every step is published on diagnostics_channel.

import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Semaphore, TokenBucket, type CircuitEvent, type DecisionEvent, type FallbackEvent, type RedisErrorEvent } from 'bucketflow';
import {
  RedisBucketError,
  RedisKeyedTokenBucket,
  RedisSemaphore,
  RedisTokenBucket,
  createRedisBucketHierarchy,
} from 'bucketflow/redis';
import { describeRedis, redisPidDir, sleep } from './helpers/env.js';
import { RedisServer } from './helpers/servers.js';

const TIMEOUT = 200;

/** Everything published on the bucketflow Redis channels while the test runs. */
function listen() {
  const seen = { circuit: [] as CircuitEvent[], error: [] as RedisErrorEvent[], fallback: [] as FallbackEvent[] };
  const on = {
    circuit: (m: unknown) => seen.circuit.push(m as CircuitEvent),
    error: (m: unknown) => seen.error.push(m as RedisErrorEvent),
    fallback: (m: unknown) => seen.fallback.push(m as FallbackEvent),
  };
  subscribe('bucketflow:circuit', on.circuit);
  subscribe('bucketflow:redis-error', on.error);
  subscribe('bucketflow:fallback', on.fallback);
  const stop = () => {
    unsubscribe('bucketflow:circuit', on.circuit);
    unsubscribe('bucketflow:redis-error', on.error);
    unsubscribe('bucketflow:fallback', on.fallback);
  };
  return { seen, stop };
}

/** How long `p` takes to settle (ms), and how. */
async function timed<T>(p: Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = performance.now();
  try {
    const value = await p;
    return { ms: performance.now() - started, value };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

describe('circuitBreaker option', () => {
  it('is checked when the limiter is made', () => {
    const redis = new Redis({ lazyConnect: true });
    const base = { redis, key: 'k', capacity: 1, fillRate: 1 };
    expect(() => new RedisTokenBucket({ ...base, circuitBreaker: { failures: 0, resetAfter: 100 } })).toThrow(new RangeError('circuitBreaker.failures must be an integer >= 1, got 0'));
    expect(() => new RedisTokenBucket({ ...base, circuitBreaker: { failures: 2 } as never })).toThrow(/circuitBreaker needs \{ failures, resetAfter \}/);
    expect(() => new RedisTokenBucket({ ...base, circuitBreaker: { failures: 2, resetAfter: -1 } })).toThrow(/circuitBreaker.resetAfter must be a finite number > 0/);
    expect(() => new RedisTokenBucket({ ...base, circuitBreaker: { failures: 2, resetAfter: 10, after: 1 } as never })).toThrow(/unknown option "after"/);
    expect(() => new RedisKeyedTokenBucket({ redis, prefix: 'p:', capacity: 1, fillRate: 1, circuitBreaker: 'on' as never })).toThrow(/circuitBreaker must be an options object/);
    expect(() => new RedisSemaphore({ redis, key: 's', limit: 1, circuitBreaker: { failures: 1.5, resetAfter: 10 } })).toThrow(RangeError);
    expect(() => createRedisBucketHierarchy({ redis, name: 'r', capacity: 1, fillRate: 1, circuitBreaker: { failures: 1, resetAfter: 0 } })).toThrow(RangeError);
    redis.disconnect();
  });
});

describeRedis('circuit breaker and Redis events', 'binary', () => {
  let server: RedisServer;
  let redis: Redis;
  let events: ReturnType<typeof listen>;

  beforeAll(async () => {
    server = await RedisServer.start({ pidDir: redisPidDir });
    // ioredis queues commands while it reconnects, so without a breaker every call waits out the
    // timeout during an outage. It reconnects every 50 ms, so a restarted server is found at once.
    redis = new Redis(server.url, { retryStrategy: () => 50 });
    redis.on('error', () => {});
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.kill();
  });
  afterEach(async () => {
    events?.stop();
    if (!server.running) await server.restart();
  });

  it('opens after consecutive failures, answers by the policy at once while open, and a probe closes it', async () => {
    events = listen();
    const bucket = new RedisTokenBucket({
      redis, key: 'cb:bucket', capacity: 100, fillRate: 100, timeout: TIMEOUT, onRedisError: 'deny',
      circuitBreaker: { failures: 3, resetAfter: 800 },
    });
    expect(await bucket.consume()).toBe(true);
    await server.stop();
    // Three failures in a row: each a real Redis call that waits out the timeout.
    for (let i = 0; i < 3; i++) {
      const r = await timed(bucket.consume());
      expect(r.value).toBe(false);
      expect(r.ms).toBeGreaterThanOrEqual(TIMEOUT - 5);
    }
    expect(events.seen.circuit.map((e) => e.state)).toEqual(['open']);
    expect(events.seen.circuit[0]!.bucket).toBe(bucket);
    expect(events.seen.error.length).toBe(3);
    expect(events.seen.error[0]!.bucket).toBe(bucket);
    expect(events.seen.error[0]!.error).toBeInstanceOf(RedisBucketError);
    // Open: the policy answers without Redis being asked, far sooner than the timeout.
    const errorsBefore = events.seen.error.length;
    for (let i = 0; i < 20; i++) {
      const r = await timed(bucket.consume());
      expect(r.value).toBe(false);
      expect(r.ms).toBeLessThan(TIMEOUT - 5); // a call sent to Redis would wait the whole timeout
    }
    const refused = await bucket.acquire(1, { maxWait: 10_000 }).catch((e: unknown) => e);
    expect((refused as Error).message).toMatch(/circuit breaker opened after 3 failed calls in a row/);
    expect(events.seen.error.length).toBe(errorsBefore); // no Redis call, no Redis error
    expect(events.seen.fallback.length).toBeGreaterThanOrEqual(24);
    expect(events.seen.fallback.every((e) => e.bucket === bucket && e.policy === 'deny')).toBe(true);
    // Redis comes back; after resetAfter one call probes it and closes the circuit.
    await server.restart();
    await sleep(900);
    expect(await bucket.consume()).toBe(true);
    expect(events.seen.circuit.map((e) => e.state)).toEqual(['open', 'half-open', 'closed']);
    expect(await bucket.consume()).toBe(true);
  }, 20_000);

  it('a failed probe opens the circuit again for another resetAfter', async () => {
    events = listen();
    const bucket = new RedisTokenBucket({
      redis, key: 'cb:probe', capacity: 100, fillRate: 100, timeout: TIMEOUT, onRedisError: 'allow',
      circuitBreaker: { failures: 1, resetAfter: 300 },
    });
    await server.stop();
    expect(await bucket.consume()).toBe(true); // 'allow': admitted while Redis is away
    await sleep(350);
    expect(await bucket.consume()).toBe(true); // the probe fails
    expect(events.seen.circuit.map((e) => e.state)).toEqual(['open', 'half-open', 'open']);
    const fast = await timed(bucket.consume());
    expect(fast.ms).toBeLessThan(TIMEOUT - 5);
  }, 20_000);

  it('a local fallback answers while open, and every Redis kind takes the breaker', async () => {
    events = listen();
    const breaker = { failures: 1, resetAfter: 60_000 };
    const local = new TokenBucket({ capacity: 2, fillRate: 0 });
    const keyed = new RedisKeyedTokenBucket({ redis, prefix: 'cb:k:', capacity: 5, fillRate: 1, timeout: TIMEOUT, circuitBreaker: breaker });
    const tree = createRedisBucketHierarchy({ redis, prefix: 'cb:', name: 'root', capacity: 5, fillRate: 1, timeout: TIMEOUT, onRedisError: local, circuitBreaker: breaker, children: [{ name: 'leaf', capacity: 5, fillRate: 1 }] });
    const sem = new RedisSemaphore({ redis, key: 'cb:sem', limit: 1, timeout: TIMEOUT, onRedisError: new Semaphore({ limit: 1 }), circuitBreaker: breaker });
    await server.stop();
    await expect(keyed.consume('a')).rejects.toBeInstanceOf(RedisBucketError);
    const open = await timed(keyed.consume('b'));
    expect(open.error).toBeInstanceOf(RedisBucketError);
    expect(open.ms).toBeLessThan(TIMEOUT - 5);
    expect(await tree.leaf!.consume()).toBe(true);
    expect(await tree.leaf!.consume()).toBe(true);
    expect(await tree.leaf!.consume()).toBe(false); // the local fallback's 2 tokens are spent
    expect(local.tokens).toBe(0);
    const lease = await sem.acquire();
    const second = await timed(sem.acquire({ maxWait: 0 }));
    expect(second.error).toBeDefined();
    expect(second.ms).toBeLessThan(TIMEOUT - 5);
    await lease.release();
    const opened = events.seen.circuit.filter((e) => e.state === 'open').map((e) => e.bucket);
    expect(opened).toEqual([keyed, tree.root, sem]);
    expect(events.seen.fallback.some((e) => e.bucket === tree.root && e.policy === local)).toBe(true);
  }, 20_000);

  it('every Redis kind publishes one decision per call', async () => {
    const decisions: DecisionEvent[] = [];
    const onDecision = (m: unknown) => decisions.push(m as DecisionEvent);
    subscribe('bucketflow:decision', onDecision);
    try {
      const bucket = new RedisTokenBucket({ redis, key: 'ev:bucket', capacity: 1, fillRate: 2 }); // a token per 500 ms
      const keyed = new RedisKeyedTokenBucket({ redis, prefix: 'ev:k:', capacity: 1, fillRate: 10 });
      const sem = new RedisSemaphore({ redis, key: 'ev:sem', limit: 1 });
      expect(await bucket.consume()).toBe(true);
      expect((await bucket.take()).allowed).toBe(false);
      await bucket.acquire(1, { maxWait: 2000 });
      expect(await keyed.consume('alice')).toBe(true);
      const lease = await sem.acquire();
      expect(await sem.tryAcquire()).toBeUndefined();
      await lease.release();
      expect(decisions.map(({ waitedMs, ...rest }) => ({ ...rest, waited: waitedMs !== undefined }))).toEqual([
        { bucket, n: 1, allowed: true, waited: false },
        { bucket, n: 1, allowed: false, waited: false },
        { bucket, n: 1, allowed: true, waited: true },
        { bucket: keyed, key: 'alice', n: 1, allowed: true, waited: false },
        { bucket: sem, n: 1, allowed: true, waited: true },
        { bucket: sem, n: 1, allowed: false, waited: false },
      ]);
      // The acquire waited for the next token.
      expect(decisions[2]!.waitedMs).toBeGreaterThan(200);
    } finally {
      unsubscribe('bucketflow:decision', onDecision);
    }
  });

  it('an error Redis itself answers with does not open the circuit', async () => {
    events = listen();
    const bucket = new RedisTokenBucket({ redis, key: 'cb:wrongtype', capacity: 5, fillRate: 1, timeout: TIMEOUT, circuitBreaker: { failures: 1, resetAfter: 60_000 } });
    await redis.set('cb:wrongtype', 'not a bucket');
    await expect(bucket.consume()).rejects.toThrow(/not a bucket state/);
    await expect(bucket.consume()).rejects.toThrow(/not a bucket state/);
    expect(events.seen.circuit).toEqual([]);
    expect(events.seen.error.length).toBeGreaterThanOrEqual(1);
  });
});
