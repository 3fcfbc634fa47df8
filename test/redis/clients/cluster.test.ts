// node-redis's cluster (createCluster, v6 and v5) and iovalkey's Cluster on a real 3-master Redis
// Cluster started for this file: the shared behaviour table on the node-redis clusters, calls
// gathered per hash slot, and semaphore wake-ups between an ioredis Cluster and the others.

import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisKeyedTokenBucket, RedisSemaphore, RedisTokenBucket, createRedisBucketHierarchy } from 'bucketflow/redis';
import { clientOf } from '../../../src/redis/client.js';
import { hashSlot } from '../../../src/redis/slots.js';
import { nodeRedisClients, otherClients, type TestClient } from '../helpers/clients.js';
import { describeRedis, redisPidDir, sleep, uniqueKey } from '../helpers/env.js';
import { runRedisKinds } from '../helpers/kinds.js';
import { RedisCluster } from '../helpers/servers.js';

describeRedis('node-redis and iovalkey Cluster clients on a 3-master Redis Cluster', 'binary', () => {
  let cluster: RedisCluster;
  let ioredis: Cluster;
  const clients = new Map<string, TestClient>();

  beforeAll(async () => {
    cluster = await RedisCluster.start(redisPidDir);
    const urls = cluster.nodes.map((n) => n.url);
    ioredis = new Cluster([{ host: '127.0.0.1', port: cluster.nodes[0]!.port }]);
    ioredis.on('error', () => {});
    for (const kind of otherClients) clients.set(kind.name, await kind.connectCluster(urls));
  }, 60_000);
  afterAll(async () => {
    for (const c of clients.values()) await c.close();
    ioredis?.disconnect();
    await cluster?.stop();
  });

  vi.setConfig({ maxConcurrency: 50 });
  describe.concurrent('the shared behaviour cases', () => {
    for (const kind of nodeRedisClients) runRedisKinds(`${kind.name} cluster`, () => clients.get(kind.name)!.redis);
  });

  describe.each(otherClients.map((kind) => [kind.name, kind] as const))('%s', (name) => {
    const redis = () => clients.get(name)!.redis;

    it('is seen as a Cluster client: a script touches one hash slot', () => {
      expect(clientOf(redis()).cluster).toBe(true);
    });

    it('runs each kind on whichever node owns its keys, gathering the calls of one slot', async () => {
      const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
      expect(new Set(keys.map((k) => hashSlot(`${name}:many:${k}`))).size).toBeGreaterThan(1);
      const keyed = new RedisKeyedTokenBucket({ redis: redis(), prefix: `${name}:many:`, capacity: 3, fillRate: 0.01 });
      const answers = await Promise.all(keys.flatMap((k) => [1, 2, 3, 4].map(() => keyed.consume(k))));
      expect(answers).toEqual(keys.flatMap(() => [true, true, true, false]));
      expect(await keyed.delete('a')).toBe(true);
      expect(await keyed.consume('a')).toBe(true);

      const { api, search, upload } = createRedisBucketHierarchy({
        redis: redis(), prefix: `${name}:h:`, name: 'api', capacity: 3, fillRate: 0.01,
        children: [{ name: 'search', capacity: 2, fillRate: 0.01 }, { name: 'upload', capacity: 2, fillRate: 0.01 }],
      });
      expect(await search!.consume(2)).toBe(true);
      expect(await upload!.consume(2)).toBe(false); // api has 1 left: all or nothing
      expect(await upload!.consume(1)).toBe(true);
      expect(await api!.tokens()).toBeCloseTo(0, 2);

      for (const key of ['x', 'y', 'z'].map((k) => `${name}:bucket:${k}`)) {
        const b = new RedisTokenBucket({ redis: redis(), key, capacity: 2, fillRate: 0.01 });
        expect(await b.take(2)).toMatchObject({ allowed: true, remaining: 0 });
        expect(await b.consume(1)).toBe(false);
        expect(await ioredis.pttl(key)).toBeGreaterThan(0);
      }
    });

    it('wakes semaphore waiters across clients, an ioredis Cluster on one side, on slots of different nodes', async () => {
      const names = ['sem:a', 'sem:b', 'sem:c'].map((k) => `${name}:${k}:${uniqueKey('')}`);
      for (const key of names) {
        const here = new RedisSemaphore({ redis: redis(), key, limit: 1 });
        const there = new RedisSemaphore({ redis: ioredis, key, limit: 1 });
        for (const [holder, waiter] of [[there, here], [here, there]] as const) {
          const held = await holder.acquire();
          expect(await waiter.tryAcquire()).toBeUndefined();
          const waiting = waiter.acquire({ maxWait: 5000 });
          await sleep(100);
          expect(await holder.waiting()).toBe(1);
          const started = performance.now();
          await held.release();
          await (await waiting).release();
          // Handed over by the release's message, not the once-a-second ask.
          expect(performance.now() - started).toBeLessThan(900);
        }
        expect(await here.inUse()).toBe(0);
      }
    });
  });
});
