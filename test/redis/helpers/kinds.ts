// The shared behaviour table (test/cases) as the four Redis bucket kinds run it on real time (the
// server's clock), on any client: behaviour.test.ts runs it per client library, the Cluster tests
// on Cluster clients.

import { RedisKeyedTokenBucket, RedisTokenBucket, createRedisBucketHierarchy } from 'bucketflow/redis';
import type { SupportedRedisClient } from '../../../src/redis/client.js';
import type { CaseBucket, CaseDriver, CaseLimit, CaseOptions } from '../../cases/behaviour-cases.js';
import { runBehaviourCases } from '../../cases/run-cases.js';
import { uniqueKey } from './env.js';

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

/**
 * The four Redis bucket kinds, each on the client `redis()` gives once the file's setup has run;
 * `keyOf(label)` names each case's key (or key prefix), unique to it.
 */
export function runRedisKinds(client: string, redis: () => SupportedRedisClient, keyOf: (label: string) => string = uniqueKey): void {
  runBehaviourCases(realTimeDriver(`RedisTokenBucket (${client})`, (limit, options) =>
    new RedisTokenBucket({ redis: redis(), key: keyOf('case'), ...limit, ...options })));

  runBehaviourCases(realTimeDriver(`RedisTokenBucket with a second, looser limit (${client})`, (limit, options) =>
    new RedisTokenBucket({ redis: redis(), key: keyOf('case2'), limits: [limit, { capacity: 1000, fillRate: 1000 }], ...options })));

  runBehaviourCases(realTimeDriver(`Redis hierarchy, leaf under a roomy root (${client})`, (limit, options) => {
    const { leaf } = createRedisBucketHierarchy({
      redis: redis(), prefix: `${keyOf('h')}:`, name: 'root', capacity: 1000, fillRate: 1000,
      children: [{ name: 'leaf', ...limit, ...options }],
    });
    return leaf!;
  }));

  runBehaviourCases(realTimeDriver(`RedisKeyedTokenBucket, one key of many (${client})`, async (limit, options) => {
    const keyed = new RedisKeyedTokenBucket({ redis: redis(), prefix: `${keyOf('k')}:`, ...limit, ...options });
    await keyed.consume('client-7', 0); // a key's bucket starts at its first request, as in KeyedTokenBucket
    return {
      consume: (n, o) => keyed.consume('client-7', n, o),
      acquire: (n, o) => keyed.acquire('client-7', n, o),
      tokens: () => keyed.tokens('client-7'),
      penalize: (n) => keyed.penalize('client-7', n),
      reward: (n) => keyed.reward('client-7', n),
    };
  }));
}
