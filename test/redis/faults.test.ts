// Faults on a redis-server of this file's own: keys and data vanishing mid-run, and the server
// killed and started again under a bucket in use.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisBucketError, RedisTokenBucket, createRedisBucketHierarchy } from 'bucketflow/redis';
import { describeRedis, redisPidDir, sleep } from './helpers/env.js';
import { RedisServer } from './helpers/servers.js';

describeRedis('Redis buckets under faults', 'binary', () => {
  let server: RedisServer;
  let redis: Redis;
  let admin: Redis;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    server = await RedisServer.start({ pidDir: redisPidDir });
    // Quick reconnects, so the restart test does not wait on ioredis' back-off.
    redis = new Redis(server.url, { retryStrategy: () => 50 });
    redis.on('error', () => {});
    admin = new Redis(server.url, { retryStrategy: () => 50 });
    admin.on('error', () => {});
  });
  afterAll(async () => {
    redis.disconnect();
    admin.disconnect();
    await server.stop();
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });

  it('comes back full when its key is deleted or the database flushed mid-run', async () => {
    const b = new RedisTokenBucket({ redis, key: 'fault:del', capacity: 5, fillRate: 0.001 });
    const h = createRedisBucketHierarchy({ redis, prefix: 'fault:', name: 'root', capacity: 4, fillRate: 0.001, children: [{ name: 'leaf', capacity: 2, fillRate: 0.001 }] });
    expect(await b.consume(5)).toBe(true);
    expect(await b.consume(1)).toBe(false);
    await admin.del('fault:del');
    expect(await b.consume(5)).toBe(true);
    expect(await h.leaf!.consume(2)).toBe(true);
    await admin.flushall();
    await admin.script('FLUSH');
    expect(await b.consume(5)).toBe(true);
    expect(await h.leaf!.consume(2)).toBe(true);
    expect(await h.root!.tokens()).toBeCloseTo(2, 2);
  });

  it('keeps serving while keys vanish under concurrent traffic, with waiters asleep', async () => {
    const b = new RedisTokenBucket({ redis, key: 'fault:busy', capacity: 10, fillRate: 200 });
    const errors: unknown[] = [];
    let admitted = 0;
    let stop = false;
    const worker = async () => {
      while (!stop) {
        try {
          if (await b.consume(1)) admitted++;
          await b.acquire(2, { maxWait: 200 }).then(() => (admitted += 2), (e: unknown) => {
            if (!(e instanceof Error && e.name === 'RateLimitExceeded')) throw e;
          });
        } catch (e) {
          errors.push(e);
        }
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    await sleep(150);
    await admin.del('fault:busy');
    await sleep(150);
    await admin.flushall();
    await sleep(150);
    stop = true;
    await Promise.all(workers);
    expect(errors).toEqual([]);
    expect(admitted).toBeGreaterThan(50); // 10 + 200/s over 0.45 s, and two fresh buckets
  });

  it('rejects promptly while the server is down, and the same bucket works again after a restart', async () => {
    const b = new RedisTokenBucket({ redis, key: 'fault:kill', capacity: 100, fillRate: 1000, timeout: 250 });
    const denying = new RedisTokenBucket({ redis, key: 'fault:kill', capacity: 100, fillRate: 1000, timeout: 250, onRedisError: 'deny' });
    expect(await b.consume()).toBe(true);
    // A waiter asleep on a reservation when the server dies, aborted during the outage.
    const sleeper = new RedisTokenBucket({ redis, key: 'fault:sleeper', capacity: 1, fillRate: 0.01, initialTokens: 0 });
    const ctl = new AbortController();
    const asleep = sleeper.acquire(1, { signal: ctl.signal }).catch((e: Error) => e.name);
    await sleep(30);

    let stop = false;
    const outcomes: string[] = [];
    const slowest: number[] = [];
    const hammer = async () => {
      while (!stop) {
        const t0 = performance.now();
        const r = await b.consume().then((ok) => (ok ? 'ok' : 'refused'), (e: unknown) => (e instanceof RedisBucketError ? 'redis-error' : `other: ${String(e)}`));
        slowest.push(performance.now() - t0);
        outcomes.push(r);
        if (r === 'redis-error') await sleep(20);
      }
    };
    const loops = Array.from({ length: 3 }, hammer);
    await sleep(100);
    await server.kill();
    await sleep(600);
    ctl.abort();
    expect(await asleep).toBe('AbortError');
    expect(await denying.consume()).toBe(false); // the 'deny' policy applies while Redis is away
    stop = true;
    await Promise.all(loops);
    expect(outcomes).toContain('ok');
    expect(outcomes).toContain('redis-error');
    expect(outcomes.filter((o) => o.startsWith('other'))).toEqual([]);
    expect(Math.max(...slowest)).toBeLessThan(250 + 400); // never longer than the timeout, plus slack

    await server.restart();
    const deadline = Date.now() + 5000;
    let back = false;
    while (!back && Date.now() < deadline) {
      back = await b.consume().catch(() => false);
      if (!back) await sleep(50);
    }
    expect(back).toBe(true);
    expect(await denying.consume(10)).toBe(true);
  });
});
