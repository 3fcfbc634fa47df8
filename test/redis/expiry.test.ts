import { afterAll, beforeAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisKeyedTokenBucket } from 'bucketflow/redis';
import { describeRedis, redisPidDir, sleep } from './helpers/env.js';
import { RedisServer } from './helpers/servers.js';

describeRedis('Redis keys expire when their buckets are full again', 'binary', () => {
  let server: RedisServer;
  let redis: Redis;
  beforeAll(async () => {
    // A server of its own, so DBSIZE counts only this test's keys (expired or not).
    server = await RedisServer.start({ pidDir: redisPidDir });
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });

  it('100,000 used-then-idle buckets leave no keys behind', async () => {
    // 1 token at 2/s: each bucket is full again, and its key gone, 500 ms after its request.
    const keyed = new RedisKeyedTokenBucket({ redis, prefix: 'idle:', capacity: 2, fillRate: 2, timeout: 10_000 });
    const total = 100_000;
    const batch = 5_000; // concurrent calls are pipelined on the one connection
    let admitted = 0;
    for (let i = 0; i < total; i += batch) {
      const results = await Promise.all(Array.from({ length: batch }, (_, j) => keyed.consume(`user-${i + j}`)));
      admitted += results.filter(Boolean).length;
    }
    expect(admitted).toBe(total);
    const deadline = Date.now() + 10_000;
    let left = await redis.dbsize();
    expect(left).toBeGreaterThan(0); // the latest keys are still there
    while (left > 0 && Date.now() < deadline) {
      await sleep(100);
      left = await redis.dbsize();
    }
    expect(left).toBe(0);
  }, 30_000);
});
