// The shared behaviour table against the Redis buckets, on real time (the server's clock): the
// same answers as the local buckets give on a ManualClock. Once per client library: ioredis (5 or
// 6, per vitest project), and in the ioredis 5 project also node-redis 6, node-redis 5 and iovalkey.

import { afterAll, beforeAll, describe, inject, vi } from 'vitest';
import { otherClients, type TestClient } from './helpers/clients.js';
import { describeRedis, redisUrl, sharedClient } from './helpers/env.js';
import { runRedisKinds } from './helpers/kinds.js';

describeRedis('Redis buckets run the shared behaviour cases', 'shared', () => {
  const ioredis = redisUrl === '' ? undefined! : sharedClient();
  const others = inject('ioredisMajor') === 5 ? otherClients : [];
  const connected = new Map<string, TestClient>();
  beforeAll(async () => {
    for (const kind of others) connected.set(kind.name, await kind.connect(redisUrl));
  });
  afterAll(async () => {
    ioredis.disconnect();
    for (const c of connected.values()) await c.close();
  });

  // Real time passes in every case, up to 2 s of it: run them side by side (each has its own
  // key), not five at a time. They spend it asleep, so running them together costs no accuracy.
  vi.setConfig({ maxConcurrency: 50 });
  describe.concurrent('concurrently', () => {
    runRedisKinds(`ioredis ${inject('ioredisMajor')}`, () => ioredis);
    for (const kind of others) runRedisKinds(`${kind.name} ${kind.version}`, () => connected.get(kind.name)!.redis);
  });
});
