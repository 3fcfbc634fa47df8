// The shared behaviour table against the Redis buckets, on real time (the server's clock): the
// same answers as the local buckets give on a ManualClock.

import { afterAll, describe } from 'vitest';
import { RedisKeyedTokenBucket, RedisTokenBucket, createRedisBucketHierarchy } from 'bucketflow/redis';
import type { CaseBucket, CaseDriver, CaseLimit } from '../cases/behaviour-cases.js';
import { runBehaviourCases } from '../cases/run-cases.js';
import { describeRedis, redisUrl, sharedClient, sleep, uniqueKey } from './helpers/env.js';

describeRedis('Redis buckets run the shared behaviour cases', 'shared', () => {
  const redis = redisUrl === '' ? undefined! : sharedClient();
  afterAll(() => redis.disconnect());

  function realTimeDriver(name: string, make: (limit: CaseLimit) => CaseBucket | Promise<CaseBucket>): CaseDriver {
    return {
      name,
      canBlock: true,
      // Server time moves on its own: a step's few ms of round trips are the slack.
      slackMs: 30,
      create: make,
      // A little past the step (pending checks have 100 ms to spare), so late timers under load do not flip a check.
      advance: (ms) => sleep(ms + 40),
      deviations: {
        'refill stops at capacity':
          'the key expires once the bucket is full, and a missing key is a new bucket at initialTokens (API.md: an expired bucket starts again there)',
      },
    };
  }

  // Real time passes in every case: run them side by side (each has its own key), not one by one.
  describe.concurrent('concurrently', () => {
  runBehaviourCases(realTimeDriver('RedisTokenBucket', (limit) => new RedisTokenBucket({ redis, key: uniqueKey('case'), ...limit })));

  runBehaviourCases(realTimeDriver('RedisTokenBucket with a second, looser limit', (limit) =>
    new RedisTokenBucket({ redis, key: uniqueKey('case2'), limits: [limit, { capacity: 1000, fillRate: 1000 }] })));

  runBehaviourCases(realTimeDriver('Redis hierarchy (leaf under a roomy root)', (limit) => {
    const { leaf } = createRedisBucketHierarchy({
      redis, prefix: `${uniqueKey('h')}:`, name: 'root', capacity: 1000, fillRate: 1000,
      children: [{ name: 'leaf', ...limit }],
    });
    return leaf;
  }));

  runBehaviourCases(realTimeDriver('RedisKeyedTokenBucket (one key of many)', async (limit) => {
    const keyed = new RedisKeyedTokenBucket({ redis, prefix: `${uniqueKey('k')}:`, ...limit });
    await keyed.consume('client-7', 0); // a key's bucket starts at its first request, as in KeyedTokenBucket
    return {
      consume: (n, o) => keyed.consume('client-7', n, o),
      acquire: (n, o) => keyed.acquire('client-7', n, o),
    };
  }));
  });
});
