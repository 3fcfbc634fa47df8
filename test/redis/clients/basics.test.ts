// The client libraries besides ioredis, on a redis-server of this file's own (its command counts
// are this file's alone): node-redis 6 and 5, and iovalkey. Each must give what ioredis gives:
// one script call per call (gathered per tick), EVALSHA with a transparent reload after SCRIPT
// FLUSH, the server's clock, the semaphore with pub/sub wake-ups across clients, and the timeout,
// failure policy and circuit breaker when the server stops answering. (The behaviour table runs on
// each of them in behaviour.test.ts; the Cluster clients in cluster.test.ts here.)

import { Redis } from 'ioredis';
import { Redis as ValkeyRedis } from 'iovalkey';
import { createClientPool } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimitExceeded, RedisBucketError, RedisKeyedTokenBucket, RedisSemaphore, RedisTokenBucket, createRedisBucketHierarchy } from 'bucketflow/redis';
import { clientOf } from '../../../src/redis/client.js';
import { otherClients, type TestClient } from '../helpers/clients.js';
import { describeRedis, redisPidDir, sleep, uniqueKey } from '../helpers/env.js';
import { RedisServer } from '../helpers/servers.js';

const SUPPORTED = /^redis must be a Redis client: an ioredis or iovalkey Redis or Cluster, or a node-redis client \(createClient\) or cluster \(createCluster\); got /;

describe('the redis option names the supported clients when given something else', () => {
  it.each([
    ['undefined', undefined, 'undefined'],
    ['a plain object', { get() {} }, 'an object'],
    ['a string', 'redis://localhost', '"redis://localhost"'],
    ['a node-redis pool', createClientPool({ url: 'redis://127.0.0.1:1' }), 'an object of class RedisClientPool'],
  ])('%s', (_what, redis, shown) => {
    for (const make of [
      () => new RedisTokenBucket({ redis: redis as never, key: 'k', capacity: 1, fillRate: 1 }),
      () => new RedisKeyedTokenBucket({ redis: redis as never, prefix: 'k:', capacity: 1, fillRate: 1 }),
      () => createRedisBucketHierarchy({ redis: redis as never, prefix: 'k:', name: 'a', capacity: 1, fillRate: 1 }),
      () => new RedisSemaphore({ redis: redis as never, key: 'k', limit: 1 }),
    ]) {
      expect(make).toThrow(TypeError);
      expect(make).toThrow(SUPPORTED);
      expect(make).toThrow(new RegExp(`; got ${shown.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    }
  });
});

describeRedis('node-redis and iovalkey clients', 'binary', () => {
  let server: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    server = await RedisServer.start({ pidDir: redisPidDir });
    admin = new Redis(server.url);
    admin.on('error', () => {});
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  /** Script calls the server ran (EVALSHA and EVAL) while `body` ran; nothing else runs scripts on this server meanwhile. */
  async function scriptCalls(body: () => Promise<unknown>): Promise<{ evalsha: number; eval: number }> {
    const count = async () => {
      const stats = await admin.info('commandstats');
      const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
      return { evalsha: calls('evalsha'), eval: calls('eval') };
    };
    const before = await count();
    await body();
    const after = await count();
    return { evalsha: after.evalsha - before.evalsha, eval: after.eval - before.eval };
  }

  it('iovalkey is its own package, not ioredis under another name, and takes the ioredis-style path', async () => {
    const valkey = new ValkeyRedis(server.url);
    try {
      expect(valkey).not.toBeInstanceOf(Redis);
      expect(ValkeyRedis).not.toBe(Redis);
      // The adapter defined the scripts on it the ioredis way: a command per script.
      clientOf(valkey);
      expect(Object.keys((valkey as unknown as { scriptsSet: object }).scriptsSet).filter((n) => n.startsWith('bucketflow'))).toHaveLength(11);
    } finally {
      valkey.disconnect();
    }
  });

  describe.each(otherClients.map((kind) => [`${kind.name} ${kind.version}`, kind] as const))('%s', (_name, kind) => {
    let client: TestClient;
    beforeAll(async () => {
      client = await kind.connect(server.url);
    });
    afterAll(() => client?.close());

    it('is seen as the client it is (a standalone server: keys of any slot in one script)', () => {
      const adapter = clientOf(client.redis);
      expect(adapter.cluster).toBe(false);
      expect(clientOf(client.redis)).toBe(adapter); // one adapter per client object
    });

    it('sends one script call per call, gathers the calls of a tick into one, and reloads its scripts after SCRIPT FLUSH', async () => {
      const key = uniqueKey('rt');
      const bucket = new RedisTokenBucket({ redis: client.redis, key, capacity: 20, fillRate: 0.001 });
      // A lone call and a batch run two scripts: both loaded here if the server (or, for the
      // ioredis-style iovalkey, the connection) never ran them.
      await bucket.consume(1);
      await Promise.all([bucket.consume(1), bucket.consume(1)]);
      expect(await scriptCalls(() => bucket.consume(3))).toEqual({ evalsha: 1, eval: 0 });
      const batch = await scriptCalls(async () => {
        expect(await Promise.all([4, 30, 3, 8, 1].map((n) => bucket.consume(n)))).toEqual([true, false, true, false, true]); // 6 left
      });
      expect(batch).toEqual({ evalsha: 1, eval: 0 });
      await admin.script('FLUSH');
      expect(await scriptCalls(async () => expect(await bucket.consume(6)).toBe(true))).toEqual({ evalsha: 1, eval: 1 }); // NOSCRIPT, then the text
      expect(await scriptCalls(async () => expect(await bucket.consume(1)).toBe(false))).toEqual({ evalsha: 1, eval: 0 });
      expect(await admin.pttl(key)).toBeGreaterThan(0);
    });

    it('takes, waits and reports decisions on the server clock, on every kind', async () => {
      const bucket = new RedisTokenBucket({ redis: client.redis, key: uniqueKey('dec'), capacity: 2, fillRate: 10 });
      const d = await bucket.take(2);
      expect(d).toMatchObject({ allowed: true, remaining: 0, retryAfter: 0 });
      const started = performance.now();
      await bucket.acquire(1, { maxWait: 1000 });
      const waited = performance.now() - started;
      expect(waited).toBeGreaterThan(60);
      expect(waited).toBeLessThan(1000);
      const refused = (await bucket.acquire(2, { maxWait: 0 }).catch((e: unknown) => e)) as RateLimitExceeded;
      expect(refused).toBeInstanceOf(RateLimitExceeded);
      expect(refused.retryAfter).toBeGreaterThan(100);
      expect(refused.retryAfter).toBeLessThanOrEqual(200);

      const keyed = new RedisKeyedTokenBucket({ redis: client.redis, prefix: `${uniqueKey('keyed')}:`, capacity: 1, fillRate: 0.001 });
      expect(await keyed.consume('a')).toBe(true);
      expect(await keyed.consume('a')).toBe(false);
      expect(await keyed.delete('a')).toBe(true);
      expect(await keyed.delete('a')).toBe(false);
      expect(await keyed.consume('a')).toBe(true);

      const { root, leaf } = createRedisBucketHierarchy({
        redis: client.redis, prefix: `${uniqueKey('h')}:`, name: 'root', capacity: 3, fillRate: 0.001, children: [{ name: 'leaf', capacity: 2, fillRate: 0.001 }],
      });
      expect(await leaf!.consume(2)).toBe(true);
      expect(await root!.consume(2)).toBe(false);
      expect(await root!.tokens()).toBeCloseTo(1, 2);
    });

    it('runs a RedisSemaphore: acquire, tryAcquire, waiting, extend, release, run', async () => {
      const key = uniqueKey('sem');
      const sem = new RedisSemaphore({ redis: client.redis, key, limit: 2, leaseTime: 5000 });
      const a = await sem.acquire();
      const b = await sem.acquire();
      expect(await sem.tryAcquire()).toBeUndefined();
      expect(await sem.inUse()).toBe(2);
      await expect(sem.acquire({ maxWait: 0 })).rejects.toBeInstanceOf(RateLimitExceeded);
      const waiting = sem.acquire({ maxWait: 5000 });
      await sleep(50);
      expect(await sem.waiting()).toBe(1);
      await a.extend();
      const started = performance.now();
      await a.release();
      const c = await waiting;
      // Woken by the release's message on this client's own subscriber, not the once-a-second ask.
      expect(performance.now() - started).toBeLessThan(900);
      await Promise.all([b.release(), c.release()]);
      expect(await sem.run(async () => sem.inUse())).toBe(1);
      expect(await sem.inUse()).toBe(0);
    });

    it('wakes a waiter on this client when an ioredis client frees the slot, and the other way round', async () => {
      const key = uniqueKey('cross');
      const ioredis = new Redis(server.url);
      try {
        const here = new RedisSemaphore({ redis: client.redis, key, limit: 1 });
        const there = new RedisSemaphore({ redis: ioredis, key, limit: 1 });
        for (const [holder, waiter] of [[there, here], [here, there]] as const) {
          const held = await holder.acquire();
          const waiting = waiter.acquire({ maxWait: 5000 });
          await sleep(100); // the waiter is queued and subscribed
          const started = performance.now();
          await held.release();
          const lease = await waiting;
          expect(performance.now() - started).toBeLessThan(900);
          await lease.release();
        }
        expect(await here.inUse()).toBe(0);
      } finally {
        ioredis.disconnect();
      }
    });

    it('fails a call that Redis does not answer within the timeout, then follows the failure policy and the circuit breaker', async () => {
      const own = await RedisServer.start({ pidDir: redisPidDir });
      const c = await kind.connect(own.url);
      try {
        const key = uniqueKey('fault');
        const strict = new RedisTokenBucket({ redis: c.redis, key, capacity: 5, fillRate: 1, timeout: 200 });
        const lenient = new RedisTokenBucket({ redis: c.redis, key, capacity: 5, fillRate: 1, timeout: 200, onRedisError: 'allow', circuitBreaker: { failures: 2, resetAfter: 60_000 } });
        expect(await strict.consume(1)).toBe(true);
        await own.pause();
        const started = performance.now();
        const error = (await strict.consume(1).catch((e: unknown) => e)) as RedisBucketError;
        expect(error).toBeInstanceOf(RedisBucketError);
        expect(error.message).toMatch(/no answer from Redis within 200 ms \(timeout\)/);
        expect(performance.now() - started).toBeLessThan(1000);
        expect(await lenient.consume(1)).toBe(true);
        expect(await lenient.consume(1)).toBe(true);
        // The circuit is open: answered by the policy at once, without waiting out the timeout.
        const quick = performance.now();
        expect(await lenient.consume(1)).toBe(true);
        expect(performance.now() - quick).toBeLessThan(100);
        own.resume();
      } finally {
        own.resume();
        await c.close();
        await own.stop();
      }
    }, 20_000);

    it('passes a Redis error reply on as the cause, and does not count it as Redis being away', async () => {
      const key = uniqueKey('wrongtype');
      await admin.set(key, 'not a bucket');
      const bucket = new RedisTokenBucket({ redis: client.redis, key, capacity: 5, fillRate: 1, circuitBreaker: { failures: 1, resetAfter: 60_000 } });
      for (let i = 0; i < 2; i++) {
        const error = (await bucket.consume(1, { block: true }).catch((e: unknown) => e)) as RedisBucketError;
        expect(error).toBeInstanceOf(RedisBucketError);
        // Redis' own words, not "circuit breaker opened": an error reply is not an outage.
        expect(error.message).toMatch(/holds a value that is not a bucket state/);
        expect(error.cause).toBeInstanceOf(Error);
      }
    });
  });

  describe('node-redis 6 with a keyPrefix', () => {
    const kind = otherClients.find((k) => k.name === 'node-redis 6');
    it.skipIf(kind === undefined)('puts every key under the prefix, and wakes semaphore waiters on the prefixed channel', async () => {
      const prefix = `${uniqueKey('px')}:`;
      const c = await kind!.connect(server.url, { keyPrefix: prefix });
      try {
        const bucket = new RedisTokenBucket({ redis: c.redis, key: 'b', capacity: 2, fillRate: 0.001 });
        expect(await bucket.consume(2)).toBe(true);
        expect(await admin.exists(`${prefix}b`)).toBe(1);
        expect(await admin.exists('b')).toBe(0);
        const keyed = new RedisKeyedTokenBucket({ redis: c.redis, prefix: 'k:', capacity: 1, fillRate: 0.001 });
        expect(await keyed.consume('x')).toBe(true);
        expect(await admin.exists(`${prefix}k:x`)).toBe(1);
        expect(await keyed.delete('x')).toBe(true);
        expect(await admin.exists(`${prefix}k:x`)).toBe(0);

        const sem = new RedisSemaphore({ redis: c.redis, key: 'sem', limit: 1 });
        const held = await sem.acquire();
        expect(await admin.zcard(`${prefix}{sem}:leases`)).toBe(1);
        const waiting = sem.acquire({ maxWait: 5000 });
        await sleep(100);
        const started = performance.now();
        await held.release();
        await (await waiting).release();
        expect(performance.now() - started).toBeLessThan(900);
      } finally {
        await c.close();
      }
    });
  });
});
