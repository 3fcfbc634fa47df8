// The Redis buckets on a real 3-master Redis Cluster started for this file: every script touches
// keys of one slot, so no CROSSSLOT error, whichever node owns the slot.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { RateLimitExceeded, RedisKeyedTokenBucket, RedisSemaphore, RedisTokenBucket, createRedisBucketHierarchy } from 'bucketflow/redis';
import { hashSlot } from '../../src/redis/slots.js';
import { describeRedis, redisPidDir } from './helpers/env.js';
import { RedisCluster } from './helpers/servers.js';

describeRedis('Redis buckets on a 3-master Redis Cluster', 'binary', () => {
  let cluster: RedisCluster;
  let redis: Cluster;

  beforeAll(async () => {
    cluster = await RedisCluster.start(redisPidDir);
    redis = new Cluster([{ host: '127.0.0.1', port: cluster.nodes[0]!.port }]);
    redis.on('error', () => {});
  }, 60_000);
  afterAll(async () => {
    redis?.disconnect();
    await cluster?.stop();
  });

  it('runs a RedisTokenBucket on whichever node owns its key', async () => {
    for (const key of ['bucket:a', 'bucket:b', 'bucket:c', 'bucket:d']) {
      const b = new RedisTokenBucket({ redis, key, capacity: 3, fillRate: 0.01 });
      expect(await b.consume(2)).toBe(true);
      expect(await b.consume(2)).toBe(false);
      const err = (await b.acquire(2, { maxWait: 0 }).catch((e: unknown) => e)) as RateLimitExceeded;
      expect(err).toBeInstanceOf(RateLimitExceeded);
      expect(await redis.pttl(key)).toBeGreaterThan(0);
    }
    // The keys really are spread over the nodes.
    const slots = await Promise.all(['bucket:a', 'bucket:b', 'bucket:c', 'bucket:d'].map((k) => redis.cluster('KEYSLOT', k)));
    expect(new Set(slots).size).toBeGreaterThan(1);
  });

  it('charges a whole hierarchy in one script (its keys share a hash tag)', async () => {
    const { api, search, upload } = createRedisBucketHierarchy({
      redis, prefix: 'h:', name: 'api', capacity: 3, fillRate: 0.01,
      children: [{ name: 'search', capacity: 2, fillRate: 0.01 }, { name: 'upload', capacity: 2, fillRate: 0.01 }],
    });
    // Without the tag these names would land in different slots.
    const bare = await Promise.all(['h:api', 'h:search', 'h:upload'].map((k) => redis.cluster('KEYSLOT', k)));
    expect(new Set(bare).size).toBeGreaterThan(1);
    expect(await search.consume(2)).toBe(true);
    expect(await upload.consume(2)).toBe(false); // api has 1 left: all or nothing
    expect(await upload.consume(1)).toBe(true);
    expect(await api.tokens()).toBeCloseTo(0, 2);
  });

  it('keeps each client key of a keyed limiter in its own slot', async () => {
    const keyed = new RedisKeyedTokenBucket({ redis, prefix: 'user:', capacity: 2, fillRate: 0.01 });
    for (let i = 0; i < 20; i++) expect(await keyed.consume(`u${i}`, 2)).toBe(true);
    for (let i = 0; i < 20; i++) expect(await keyed.consume(`u${i}`)).toBe(false);
  });

  it('gathers concurrent calls per key, each key\'s calls sent to the node that owns it', async () => {
    const keyed = new RedisKeyedTokenBucket({ redis, prefix: 'many:', capacity: 3, fillRate: 0.01 });
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    const answers = await Promise.all(keys.flatMap((k) => [1, 2, 3, 4].map(() => keyed.consume(k))));
    expect(answers).toEqual(keys.flatMap(() => [true, true, true, false]));
    const slots = await Promise.all(keys.map((k) => redis.cluster('KEYSLOT', `many:${k}`)));
    expect(new Set(slots).size).toBeGreaterThan(1);
  });

  it('gathers the calls of keys that share a slot into one script call, answering each as separate calls would', async () => {
    const keyed = new RedisKeyedTokenBucket({ redis, prefix: '{tenant7}:', capacity: 2, fillRate: 0.01 });
    await keyed.consume('warm', 0); // the script is loaded on the slot's node (ioredis's EVAL fallback)
    // Script calls the servers ran, over every node.
    const scriptCalls = async () => {
      let calls = 0;
      for (const node of redis.nodes('master')) {
        for (const m of String(await node.info('commandstats')).matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) calls += Number(m[1]);
      }
      return calls;
    };
    const before = await scriptCalls();
    const answers = await Promise.all(['a', 'b', 'a', 'c', 'a', 'b'].map((k) => keyed.consume(k)));
    expect(answers).toEqual([true, true, true, true, false, true]);
    expect(await scriptCalls() - before).toBe(1);
  });

  it('gathers a hierarchy\'s calls of one tick, and a keyed limiter\'s with several limits, per slot', async () => {
    const scriptCalls = async () => {
      let calls = 0;
      for (const node of redis.nodes('master')) {
        for (const m of String(await node.info('commandstats')).matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) calls += Number(m[1]);
      }
      return calls;
    };
    const { org, team } = createRedisBucketHierarchy({
      redis, prefix: 'hg:', name: 'org', capacity: 5, fillRate: 0.01, children: [{ name: 'team', capacity: 3, fillRate: 0.01 }],
    });
    await org!.consume(1); // the chains script is loaded on the slot's node
    await Promise.all([org!.consume(1), team!.consume(1)]);
    const before = await scriptCalls();
    expect(await Promise.all([team!.consume(1), org!.consume(1), team!.consume(1), team!.consume(1)])).toEqual([true, true, false, false]);
    expect(await scriptCalls() - before).toBe(1);
    // Several limits per key, keys spread over the nodes: one script call per slot.
    const keyed = new RedisKeyedTokenBucket({ redis, prefix: 'kml:', limits: [{ capacity: 2, fillRate: 0.01 }, { capacity: 3, fillRate: 0.001 }] });
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    expect(await Promise.all(keys.flatMap((k) => [1, 1, 1].map(() => keyed.consume(k))))).toEqual(keys.flatMap(() => [true, true, false]));
  });

  it('runs RedisSemaphores on whichever node owns their slot, woken across clients by pub/sub', async () => {
    const other = new Cluster([{ host: '127.0.0.1', port: cluster.nodes[1]!.port }]);
    other.on('error', () => {});
    try {
      const names = ['sem:a', 'sem:b', 'sem:c', 'sem:d'];
      const slots = new Set(names.map((k) => hashSlot(`{${k}}:leases`)));
      expect(slots.size).toBeGreaterThan(1);
      for (const key of names) {
        const a = new RedisSemaphore({ redis, key, limit: 1 });
        const b = new RedisSemaphore({ redis: other, key, limit: 1 });
        const held = await a.acquire();
        expect(await b.tryAcquire()).toBeUndefined();
        const started = performance.now();
        const waiting = b.acquire({ maxWait: 5000 });
        await new Promise((r) => setTimeout(r, 50));
        expect(await a.waiting()).toBe(1);
        await held.release();
        await (await waiting).release();
        // Handed over by the release's message, not the once-a-second ask.
        expect(performance.now() - started).toBeLessThan(900);
        expect(await a.inUse()).toBe(0);
      }
    } finally {
      other.disconnect();
    }
  });

  it('computes hash slots as the Cluster does', async () => {
    const keys = ['123456789', 'foo', 'user:1', '{user1000}.following', 'x{}y', 'a{b}c{d}', '{}', 'héllo', '{', '}{a}', 'many:a'];
    for (const key of keys) expect(hashSlot(key), key).toBe(await redis.cluster('KEYSLOT', key));
  });

  it('runs examples/redis-cluster.ts', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/redis-cluster.ts'], {
      cwd: new URL('../../', import.meta.url),
      timeout: 20_000,
      env: { ...process.env, REDIS_CLUSTER: cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(',') },
    });
    expect(stdout).toContain('bucket: true false');
    expect(stdout).toMatch(/hierarchy: true example:\d+:\{api\}:search/);
    expect(stdout).toContain('keyed: true true');
  }, 30_000);
});
