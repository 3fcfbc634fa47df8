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

  // A Redis keyed limiter cannot visit every key in Redis when its limits change.
  const KEYED_DEVIATIONS = {
    'setLimits: tokens earned before count at the old rate, the new rate applies from then on':
      'a Redis keyed limiter does not visit its keys on setLimits: a key refills the time since its last request at the new rate (README, Changing limits)',
  };

  function realTimeDriver(name: string, make: (limit: CaseLimit, options: CaseOptions) => CaseBucket | Promise<CaseBucket>, extra: Record<string, string> = {}): CaseDriver {
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
        ...extra,
      },
    };
  }

  // Real time passes in every case, up to 2 s of it: run them side by side (each has its own
  // key), not five at a time. They spend it asleep, so running them together costs no accuracy.
  vi.setConfig({ maxConcurrency: 50 });
  describe.concurrent('concurrently', () => {
  runBehaviourCases(realTimeDriver('RedisTokenBucket', (limit, options) => new RedisTokenBucket({ redis, key: uniqueKey('case'), ...limit, ...options })));

  runBehaviourCases(realTimeDriver('RedisTokenBucket with a second, looser limit', (limit, options) => {
    const b = new RedisTokenBucket({ redis, key: uniqueKey('case2'), limits: [limit, { capacity: 1000, fillRate: 1000 }], ...options });
    return {
      consume: (n, o) => b.consume(n, o),
      acquire: (n, o) => b.acquire(n, o),
      tokens: () => b.tokens(),
      penalize: (n) => b.penalize(n),
      reward: (n) => b.reward(n),
      setLimits: (l) => b.setLimits({ limits: [l, { capacity: 1000, fillRate: 1000 }] }),
    };
  }));

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
      setLimits: (l) => keyed.setLimits(l),
    };
  }, KEYED_DEVIATIONS));

  runBehaviourCases(realTimeDriver('RedisKeyedTokenBucket with limitsFor (the key of one tier among others)', async (limit, options) => {
    const other = { capacity: 1, fillRate: 1000 };
    const keyed = new RedisKeyedTokenBucket({ redis, prefix: `${uniqueKey('t')}:`, limitsFor: (key) => (key === 'gold' ? limit : other), ...options });
    await keyed.consume('gold', 0);
    return {
      consume: async (n, o) => { void keyed.consume('free', 1); return keyed.consume('gold', n, o); },
      acquire: (n, o) => keyed.acquire('gold', n, o),
      tokens: () => keyed.tokens('gold'),
      penalize: (n) => keyed.penalize('gold', n),
      reward: (n) => keyed.reward('gold', n),
      setLimits: (l) => keyed.setLimits({ limitsFor: (key) => (key === 'gold' ? l : other) }),
    };
  }, KEYED_DEVIATIONS));
  });
});
