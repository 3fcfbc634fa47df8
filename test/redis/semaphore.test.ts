// RedisSemaphore in one process against real Redis: the verbs, leases that expire and renew, keys
// that expire when idle, arrival order across clients, and what an unreachable or stalled server
// does to callers.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RateLimitExceeded, Semaphore, rateLimit } from 'bucketflow';
import { LeaseExpired, RedisBucketError, RedisSemaphore, type RedisLease } from 'bucketflow/redis';
import { describeRedis, redisPidDir, sharedClient, sleep, uniqueKey } from './helpers/env.js';
import { RedisServer, freePort } from './helpers/servers.js';

/** Resolves once `check()` holds, asking every 10 ms (for up to 5 s). */
async function until(check: () => Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 5000; !(await check());) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await sleep(10);
  }
}

/** The semaphore's keys in Redis, as documented: the key in braces (no hash tag of its own) plus a suffix. */
const keysOf = (key: string) => ['leases', 'queue', 'alive'].map((s) => `{${key}}:${s}`);

describeRedis('RedisSemaphore', 'shared', () => {
  let redis: Redis;
  let other: Redis;

  beforeAll(() => {
    redis = sharedClient();
    other = sharedClient();
  });
  afterAll(() => {
    redis.disconnect();
    other.disconnect();
  });

  describe('options', () => {
    it('names bad options before sending anything', () => {
      const key = uniqueKey('opts');
      expect(() => new RedisSemaphore(undefined as never)).toThrow(TypeError);
      expect(() => new RedisSemaphore({ redis: {} as never, key, limit: 1 })).toThrow(/redis must be a Redis client: an ioredis or iovalkey Redis or Cluster, or a node-redis client/);
      expect(() => new RedisSemaphore({ redis, key: '', limit: 1 })).toThrow(/key must be a non-empty string/);
      expect(() => new RedisSemaphore({ redis, key } as never)).toThrow(/limit is required/);
      expect(() => new RedisSemaphore({ redis, key, limit: 0 })).toThrow(new RangeError('limit must be an integer >= 1, got 0'));
      expect(() => new RedisSemaphore({ redis, key, limit: 2.5 })).toThrow(RangeError);
      expect(() => new RedisSemaphore({ redis, key, limit: 1, leaseTime: 0 })).toThrow(/leaseTime must be a finite number > 0/);
      expect(() => new RedisSemaphore({ redis, key, limit: 1, leaseTime: 2 ** 40 })).toThrow(/leaseTime must be at most/);
      expect(() => new RedisSemaphore({ redis, key, limit: 1, timeout: -5 })).toThrow(/timeout/);
      expect(() => new RedisSemaphore({ redis, key, limit: 1, onRedisError: 'ignore' as never })).toThrow(/onRedisError must be 'throw', 'allow', 'deny' or a local Semaphore/);
      expect(() => new RedisSemaphore({ redis, key, limit: 1, lease: 5 } as never)).toThrow(/unknown option "lease"/);
    });

    it('rejects bad acquire options', async () => {
      const sem = new RedisSemaphore({ redis, key: uniqueKey('acq-opts'), limit: 1 });
      await expect(sem.acquire({ maxWait: -1 })).rejects.toThrow(RangeError);
      await expect(sem.acquire({ signal: 1 } as never)).rejects.toThrow(TypeError);
      await expect(sem.run(5 as never)).rejects.toThrow(TypeError);
      await expect(sem.acquire({ signal: AbortSignal.abort('why') })).rejects.toBe('why');
      expect(await sem.inUse()).toBe(0);
    });
  });

  describe('leases', () => {
    it('hands out up to limit leases across clients, refuses or queues the next', async () => {
      const key = uniqueKey('basic');
      const a = new RedisSemaphore({ redis, key, limit: 2 });
      const b = new RedisSemaphore({ redis: other, key, limit: 2 });
      const l1 = await a.acquire();
      const l2 = await b.acquire();
      expect(l1.id).not.toBe(l2.id);
      expect(await a.inUse()).toBe(2);
      expect(await b.tryAcquire()).toBeUndefined();
      const refused = await a.acquire({ maxWait: 0 }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(RateLimitExceeded);
      expect((refused as RateLimitExceeded).retryAfter).toBe(0);
      await l1.release();
      const l3 = await b.tryAcquire();
      expect(l3).toBeDefined();
      await l2.release();
      await l3!.release();
      expect(await a.inUse()).toBe(0);
    });

    it('release is idempotent and frees one slot', async () => {
      const key = uniqueKey('double');
      const sem = new RedisSemaphore({ redis, key, limit: 2 });
      const a = await sem.acquire();
      const b = await sem.acquire();
      const first = a.release();
      expect(a.release()).toBe(first);
      await first;
      await a.release();
      expect(a.released).toBe(true);
      expect(await sem.inUse()).toBe(1);
      const c = await sem.acquire();
      expect(await sem.tryAcquire()).toBeUndefined(); // b and c hold both slots
      await b.release();
      await c.release();
    });

    it('serves waiters of several clients in arrival order, woken without waiting for a timed ask', async () => {
      const key = uniqueKey('fifo');
      const a = new RedisSemaphore({ redis, key, limit: 1 });
      const b = new RedisSemaphore({ redis: other, key, limit: 1 });
      const held = await a.acquire();
      const order: string[] = [];
      const got = (name: string) => (lease: RedisLease) => {
        order.push(name);
        return lease;
      };
      // Each queues once the one before it is queued: the arrival order is known.
      const w1 = b.acquire().then(got('b1'));
      await until(async () => (await a.waiting()) === 1);
      const w2 = a.acquire().then(got('a2'));
      await until(async () => (await a.waiting()) === 2);
      const w3 = b.acquire().then(got('b3'));
      await until(async () => (await a.waiting()) === 3);
      // A newcomer does not jump the queue.
      expect(await a.tryAcquire()).toBeUndefined();
      const started = performance.now();
      await held.release();
      for (const w of [w1, w2, w3]) await (await w).release();
      expect(order).toEqual(['b1', 'a2', 'b3']);
      // Three hand-overs by pub/sub, not by the once-a-second ask.
      expect(performance.now() - started).toBeLessThan(900);
      expect(await a.waiting()).toBe(0);
    });

    it('maxWait refuses a waiter that is still queued, and it leaves the queue', async () => {
      const key = uniqueKey('maxwait');
      const sem = new RedisSemaphore({ redis, key, limit: 1 });
      const held = await sem.acquire();
      const started = performance.now();
      const refused = await sem.acquire({ maxWait: 150 }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(RateLimitExceeded);
      expect(performance.now() - started).toBeGreaterThanOrEqual(140);
      await sleep(50);
      expect(await sem.waiting()).toBe(0);
      await held.release();
      expect(await sem.inUse()).toBe(0);
    });

    it('an abort rejects with signal.reason and removes the waiter from Redis', async () => {
      const key = uniqueKey('abort');
      const sem = new RedisSemaphore({ redis, key, limit: 1 });
      const held = await sem.acquire();
      const ctl = new AbortController();
      const aborted = sem.acquire({ signal: ctl.signal }).catch((e: unknown) => e);
      const next = sem.acquire();
      await sleep(30);
      expect(await sem.waiting()).toBe(2);
      ctl.abort(new Error('stop'));
      expect(((await aborted) as Error).message).toBe('stop');
      await sleep(30);
      expect(await sem.waiting()).toBe(1);
      await held.release();
      await (await next).release();
      expect(await sem.inUse()).toBe(0);
    });

    it('run releases on success, rejection and throw, passing results and errors through', async () => {
      const sem = new RedisSemaphore({ redis, key: uniqueKey('run'), limit: 1 });
      expect(await sem.run(async () => 'ok')).toBe('ok');
      await expect(sem.run(async () => {
        throw new Error('boom');
      })).rejects.toThrow('boom');
      await expect(sem.run(() => {
        throw new Error('sync boom');
      })).rejects.toThrow('sync boom');
      expect(await sem.inUse()).toBe(0);
    });

    it('Symbol.asyncDispose and Symbol.dispose release the lease', async () => {
      const sem = new RedisSemaphore({ redis, key: uniqueKey('dispose'), limit: 1 });
      {
        await using lease = await sem.acquire();
        expect(lease.released).toBe(false);
        expect(await sem.inUse()).toBe(1);
      }
      expect(await sem.inUse()).toBe(0);
      const lease = await sem.acquire();
      lease[Symbol.dispose]();
      await sleep(20);
      expect(await sem.inUse()).toBe(0);
    });

    it('extend renews a lease for leaseTime from now; an expired lease is lost, and its signal aborts', async () => {
      const key = uniqueKey('extend');
      const sem = new RedisSemaphore({ redis, key, limit: 1, leaseTime: 300 });
      const lease = await sem.acquire();
      const [leases] = keysOf(key);
      const before = Number(await redis.zscore(leases!, lease.id));
      await sleep(100);
      await lease.extend();
      expect(Number(await redis.zscore(leases!, lease.id))).toBeGreaterThan(before + 50);
      await sleep(450); // expired by now
      expect(await sem.inUse()).toBe(0);
      const lost = await lease.extend().catch((e: unknown) => e);
      expect(lost).toBeInstanceOf(LeaseExpired);
      expect(lease.signal.aborted).toBe(true);
      expect(lease.signal.reason).toBe(lost);
      // Its slot is free: someone else can have it, and the old lease's release changes nothing.
      const next = await sem.acquire({ maxWait: 0 });
      await lease.release();
      expect(await sem.inUse()).toBe(1);
      await next.release();
      await expect(lease.extend()).rejects.toThrow(/was released/);
    });

    it('run keeps extending its lease while fn runs', async () => {
      const key = uniqueKey('run-long');
      const sem = new RedisSemaphore({ redis, key, limit: 1, leaseTime: 1000 });
      const result = await sem.run(async (lease) => {
        // Past the lease time twice over: still held.
        for (let i = 0; i < 4; i++) {
          await sleep(500);
          expect(await sem.tryAcquire()).toBeUndefined();
        }
        return lease.signal.aborted;
      });
      expect(result).toBe(false);
      expect(await sem.inUse()).toBe(0);
    });

    it('limits rateLimit({ concurrency }) across clients', async () => {
      const key = uniqueKey('ratelimit');
      let running = 0;
      let most = 0;
      const work = async () => {
        running++;
        most = Math.max(most, running);
        await sleep(20);
        running--;
      };
      const a = rateLimit({ concurrency: new RedisSemaphore({ redis, key, limit: 2 }) })(work);
      const b = rateLimit({ concurrency: new RedisSemaphore({ redis: other, key, limit: 2 }) })(work);
      await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? a() : b())));
      expect(most).toBe(2);
      // Both slots held (until `open`): a call that does not wait is refused.
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      let holding = 0;
      let bothHeld!: () => void;
      const held = new Promise<void>((resolve) => (bothHeld = resolve));
      const hold = async () => {
        if (++holding === 2) bothHeld();
        await gate;
      };
      const holders = [rateLimit({ concurrency: new RedisSemaphore({ redis, key, limit: 2 }) })(hold)(), rateLimit({ concurrency: new RedisSemaphore({ redis: other, key, limit: 2 }) })(hold)()];
      await held;
      const refused = rateLimit({ concurrency: new RedisSemaphore({ redis, key, limit: 2 }), block: false })(work);
      await expect(refused()).rejects.toBeInstanceOf(RateLimitExceeded);
      open();
      await Promise.all(holders);
    });

    it('keys hold the semaphore key, share a hash slot, and expire when idle', async () => {
      const key = uniqueKey('expiry');
      const sem = new RedisSemaphore({ redis, key, limit: 1, leaseTime: 2000 });
      const held = await sem.acquire();
      const waiting = sem.acquire();
      await sleep(30);
      const keys = keysOf(key);
      for (const k of keys) {
        expect(k).toContain(key);
        const ttl = await redis.pttl(k);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(5000);
      }
      const slots = await Promise.all(keys.map((k) => redis.cluster('KEYSLOT', k).catch(() => undefined)));
      if (slots[0] !== undefined) expect(new Set(slots).size).toBe(1);
      await held.release();
      await (await waiting).release();
      expect(await redis.exists(...keys)).toBe(0);
      // A key with its own hash tag keeps it.
      const tagged = `{${uniqueKey('tag')}}:sem`;
      const t = await new RedisSemaphore({ redis, key: tagged, limit: 1 }).acquire();
      expect(await redis.exists(`${tagged}:leases`)).toBe(1);
      await t.release();
    });

    it('works through a client with a keyPrefix (wake-ups included)', async () => {
      const prefixed = new Redis(redis.options.port!, redis.options.host!, { keyPrefix: 'pfx:' });
      prefixed.on('error', () => {});
      try {
        const key = uniqueKey('prefix');
        const a = new RedisSemaphore({ redis: prefixed, key, limit: 1 });
        const held = await a.acquire();
        expect(await redis.exists(`pfx:{${key}}:leases`)).toBe(1);
        const started = performance.now();
        const next = a.acquire();
        await sleep(50);
        await held.release();
        await (await next).release();
        expect(performance.now() - started).toBeLessThan(800);
      } finally {
        prefixed.disconnect();
      }
    });

    it('a lease whose holder never releases frees its slot when it expires, and a waiter gets it then', async () => {
      const key = uniqueKey('expire-wake');
      const sem = new RedisSemaphore({ redis, key, limit: 1, leaseTime: 400 });
      await sem.acquire(); // never released
      const started = performance.now();
      const lease = await sem.acquire({ maxWait: 3000 });
      const waited = performance.now() - started;
      expect(waited).toBeGreaterThan(300);
      expect(waited).toBeLessThan(1500);
      await lease.release();
    });
  });
});

describeRedis('RedisSemaphore when Redis fails', 'binary', () => {
  it('an unreachable server rejects promptly with RedisBucketError, or answers by the policy', async () => {
    const port = await freePort();
    const dead = new Redis({ port, lazyConnect: false, maxRetriesPerRequest: null, retryStrategy: () => 50 });
    dead.on('error', () => {});
    try {
      const key = 'down';
      const sem = new RedisSemaphore({ redis: dead, key, limit: 1, timeout: 150 });
      const started = performance.now();
      const error = await sem.acquire().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RedisBucketError);
      expect((error as Error).message).toMatch(/RedisSemaphore "down".*timeout/);
      expect(performance.now() - started).toBeLessThan(1000);
      await expect(sem.tryAcquire()).rejects.toBeInstanceOf(RedisBucketError);

      const allow = new RedisSemaphore({ redis: dead, key, limit: 1, timeout: 100, onRedisError: 'allow' });
      const free = await allow.acquire();
      await free.extend();
      await free.release();
      expect(free.released).toBe(true);

      const deny = new RedisSemaphore({ redis: dead, key, limit: 1, timeout: 100, onRedisError: 'deny' });
      await expect(deny.acquire()).rejects.toBeInstanceOf(RateLimitExceeded);
      expect(await deny.tryAcquire()).toBeUndefined();

      const local = new Semaphore({ limit: 1 });
      const fallback = new RedisSemaphore({ redis: dead, key, limit: 5, timeout: 100, onRedisError: local });
      const l1 = await fallback.acquire();
      expect(local.inUse).toBe(1);
      await expect(fallback.acquire({ maxWait: 0 })).rejects.toBeInstanceOf(RateLimitExceeded);
      await l1.release();
      expect(local.inUse).toBe(0);
      expect(await fallback.run(() => local.inUse)).toBe(1);
      expect(local.inUse).toBe(0);
    } finally {
      dead.disconnect();
    }
  });

  describe('a stalled server', () => {
    let server: RedisServer;
    let redis: Redis;
    beforeAll(async () => {
      server = await RedisServer.start({ pidDir: redisPidDir });
      redis = new Redis(server.url);
      redis.on('error', () => {});
    });
    afterAll(async () => {
      server?.resume();
      redis?.disconnect();
      await server?.kill();
    });

    it('a lease granted to a caller that already timed out is released when the server catches up', async () => {
      const key = 'late';
      const sem = new RedisSemaphore({ redis, key, limit: 2, timeout: 100 });
      await server.pause();
      const error = await sem.acquire().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RedisBucketError);
      server.resume();
      await sleep(200);
      expect(await sem.inUse()).toBe(0);
      expect(await sem.waiting()).toBe(0);
      // And a waiter that timed out while queued leaves the queue.
      const held = [await sem.acquire(), await sem.acquire()];
      await server.pause();
      const queued = await sem.acquire().catch((e: unknown) => e);
      expect(queued).toBeInstanceOf(RedisBucketError);
      server.resume();
      await sleep(200);
      expect(await sem.waiting()).toBe(0);
      for (const l of held) await l.release();
      expect(await sem.inUse()).toBe(0);
    });
  });
});
