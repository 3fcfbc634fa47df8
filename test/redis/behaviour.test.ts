// The shared behaviour table against the Redis buckets, on real time (the server's clock): the
// same answers as the local buckets give on a ManualClock.

import { afterAll, describe, vi } from 'vitest';
import { RedisKeyedTokenBucket, RedisTokenBucket, createRedisBucketHierarchy } from 'bucketflow/redis';
import type { CaseBucket, CaseDriver, CaseLimit, CaseOptions } from '../cases/behaviour-cases.js';
import { runBehaviourCases } from '../cases/run-cases.js';
import { describeRedis, redisUrl, sharedClient, uniqueKey } from './helpers/env.js';

describeRedis('Redis buckets run the shared behaviour cases', 'shared', () => {
  const redis = redisUrl === '' ? undefined! : sharedClient();
  afterAll(() => redis.disconnect());

  function realTimeDriver(name: string, make: (limit: CaseLimit, options: CaseOptions) => CaseBucket | Promise<CaseBucket>): CaseDriver {
    return {
      name,
      canBlock: true,
      // The time that passed during a step is measured; this is only the server's rounding.
      slackMs: 1,
      // A reply or a timer late by up to the calls' own timeout (1 s) on a loaded machine.
      realTime: { lateMs: 1000 },
      async create(limit, options) {
        const bucket = await make(limit, options);
        await bucket.consume(0); // answered after the bucket's first script: its state exists on the server
        return bucket;
      },
      deviations: {
        'refill stops at capacity':
          'the key expires once the bucket is full, and a missing key is a new bucket at initialTokens (API.md: an expired bucket starts again there)',
      },
    };
  }

  // Real time passes in every case, up to 2 s of it: run them side by side (each has its own
  // key), not five at a time. They spend it asleep, so running them together costs no accuracy.
  vi.setConfig({ maxConcurrency: 50 });
  describe.concurrent('concurrently', () => {
  runBehaviourCases(realTimeDriver('RedisTokenBucket', (limit, options) => new RedisTokenBucket({ redis, key: uniqueKey('case'), ...limit, ...options })));

  runBehaviourCases(realTimeDriver('RedisTokenBucket with a second, looser limit', (limit, options) =>
    new RedisTokenBucket({ redis, key: uniqueKey('case2'), limits: [limit, { capacity: 1000, fillRate: 1000 }], ...options })));

  runBehaviourCases(realTimeDriver('Redis hierarchy (leaf under a roomy root)', (limit, options) => {
    const { leaf } = createRedisBucketHierarchy({
      redis, prefix: `${uniqueKey('h')}:`, name: 'root', capacity: 1000, fillRate: 1000,
      children: [{ name: 'leaf', ...limit, ...options }],
    });
    return leaf;
  }));

  runBehaviourCases(realTimeDriver('RedisKeyedTokenBucket (one key of many)', async (limit, options) => {
    const keyed = new RedisKeyedTokenBucket({ redis, prefix: `${uniqueKey('k')}:`, ...limit, ...options });
    await keyed.consume('client-7', 0); // a key's bucket starts at its first request, as in KeyedTokenBucket
    return {
      consume: (n, o) => keyed.consume('client-7', n, o),
      acquire: (n, o) => keyed.acquire('client-7', n, o),
      tokens: () => keyed.tokens('client-7'),
      penalize: (n) => keyed.penalize('client-7', n),
      reward: (n) => keyed.reward('client-7', n),
    };
  }));
  });
});
