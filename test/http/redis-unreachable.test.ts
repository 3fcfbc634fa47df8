// An unreachable Redis under the default failure policy ('throw'): every adapter hands the error to
// its framework's error handling, which answers 500; no request passes unlimited.

import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisKeyedTokenBucket } from 'bucketflow/redis';
import { freePort } from '../redis/helpers/servers.js';
import { drivers } from './helpers/servers.js';

describe('an unreachable Redis with the default policy', () => {
  const clients: Redis[] = [];
  afterAll(() => {
    for (const c of clients) c.disconnect();
  });

  it.each(Object.values(drivers).map((d) => [d.name, d] as const))('%s answers 500 through its error handler', async (_name, driver) => {
    const redis = new Redis({ port: await freePort(), host: '127.0.0.1', enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => null });
    redis.on('error', () => {});
    clients.push(redis);
    const limiter = new RedisKeyedTokenBucket({ redis, prefix: 'rl:', capacity: 5, fillRate: 1, timeout: 200 });
    const running = await driver.start({ limiter, keyFromHeader: true });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${running.url}/`, { headers: { 'x-key': 'a' } });
        expect(res.status).toBe(500);
        expect(await res.text()).toMatch(/^handled: RedisKeyedTokenBucket .*Redis/);
      }
    } finally {
      await running.close();
    }
  });
});
