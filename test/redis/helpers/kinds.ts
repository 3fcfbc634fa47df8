// The shared behaviour table (test/cases) as the four Redis bucket kinds run it on real time (the
// server's clock), on any client: behaviour.test.ts runs it per client library, the Cluster tests
// on Cluster clients.

import { RedisKeyedTokenBucket, RedisTokenBucket, createRedisBucketHierarchy } from 'bucketflow/redis';
import type { SupportedRedisClient } from '../../../src/redis/client.js';
import type { CaseBucket, CaseDriver, CaseLimit, CaseOptions } from '../../cases/behaviour-cases.js';
import { runBehaviourCases } from '../../cases/run-cases.js';
import { uniqueKey } from './env.js';

// A Redis keyed limiter cannot visit every key in Redis when its limits change.
const KEYED_DEVIATIONS = {
  'setLimits: tokens earned before count at the old rate, the new rate applies from then on':
    'a Redis keyed limiter does not visit its keys on setLimits: a key refills the time since its last request at the new rate (README, Changing limits on Redis)',
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

/**
 * The four Redis bucket kinds, each on the client `redis()` gives once the file's setup has run;
 * `keyOf(label)` names each case's key (or key prefix), unique to it.
 */
export function runRedisKinds(client: string, redis: () => SupportedRedisClient, keyOf: (label: string) => string = uniqueKey): void {
  runBehaviourCases(realTimeDriver(`RedisTokenBucket (${client})`, (limit, options) =>
    new RedisTokenBucket({ redis: redis(), key: keyOf('case'), ...limit, ...options })));

  runBehaviourCases(realTimeDriver(`RedisTokenBucket with a second, looser limit (${client})`, (limit, options) => {
    const b = new RedisTokenBucket({ redis: redis(), key: keyOf('case2'), limits: [limit, { capacity: 1000, fillRate: 1000 }], ...options });
    return {
      consume: (n, o) => b.consume(n, o),
      acquire: (n, o) => b.acquire(n, o),
      tokens: () => b.tokens(),
      penalize: (n) => b.penalize(n),
      reward: (n) => b.reward(n),
      setLimits: (l) => b.setLimits({ limits: [l, { capacity: 1000, fillRate: 1000 }] }),
    };
  }));

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
      setLimits: (l) => keyed.setLimits(l),
    };
  }, KEYED_DEVIATIONS));

  // Tiers: the key under test has the case's limit, another key a tier of its own.
  runBehaviourCases(realTimeDriver(`RedisKeyedTokenBucket with limitsFor, the key of one tier among others (${client})`, async (limit, options) => {
    const other = { capacity: 1, fillRate: 1000 };
    const keyed = new RedisKeyedTokenBucket({ redis: redis(), prefix: `${keyOf('t')}:`, limitsFor: (key) => (key === 'gold' ? limit : other), ...options });
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
}
