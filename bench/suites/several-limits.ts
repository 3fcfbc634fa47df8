// Several limits at once (say per second and per minute), charged all or nothing: what a second
// limit costs. Locally, one caller doing `consume(1)`; on Redis, 64 callers on one connection, on
// one key and round-robin over 10,000 keys. Every limit always admits, so every call takes the
// whole path: both limits refilled, both checked, both charged.
import type { Redis } from 'ioredis';
import { TokenBucket } from '../../src/index.js';
import { RedisKeyedTokenBucket, RedisTokenBucket } from '../../src/redis.js';
import { MinimalTwoLimitBucket } from '../minimal-two-limit-bucket.js';
import { MINIMAL_TWO_LIMIT_LUA } from '../minimal-two-limit-lua.js';
import { syncLoop } from '../measure.js';
import { keyNames, redisRow, roundRobin, type Setup } from './redis.js';
import type { Contender } from './types.js';

const BIG = 1e9;
// Per second and per minute, each far above any rate a loop can reach.
const PER_SECOND = { capacity: BIG, fillRate: BIG };
const PER_MINUTE = { capacity: BIG * 60, fillRate: BIG };
const LIMITS = [PER_SECOND, PER_MINUTE];

export const twoLimits: Record<string, Contender> = {
  'minimal two-limit bucket': ({ timing }) => {
    const b = new MinimalTwoLimitBucket(PER_SECOND, PER_MINUTE);
    return syncLoop(() => b.consume(1), true, timing);
  },
  'bucketflow, two limits': ({ timing }) => {
    const b = new TokenBucket({ limits: LIMITS });
    return syncLoop(() => b.consume(1), true, timing);
  },
  'bucketflow, one limit': ({ timing }) => {
    const b = new TokenBucket(PER_SECOND);
    return syncLoop(() => b.consume(1), true, timing);
  },
};

/** The minimal two-limit script's arguments after the key: both limits in tokens per ms, then n = 1. */
const MINIMAL_ARGS = [PER_SECOND.capacity, PER_SECOND.fillRate / 1000, PER_MINUTE.capacity, PER_MINUTE.fillRate / 1000, 1].map(String);

/** Loads the minimal two-limit script; the call it returns runs it on one key. */
async function minimalScript(redis: Redis): Promise<(key: string) => Promise<unknown>> {
  const sha = (await redis.script('LOAD', MINIMAL_TWO_LIMIT_LUA)) as string;
  return (key) => redis.evalsha(sha, 1, key, ...MINIMAL_ARGS);
}

const oneKey: Record<string, Setup> = {
  'minimal two-limit Lua bucket': async (redis, key) => {
    const call = await minimalScript(redis);
    return () => call(key);
  },
  'bucketflow RedisTokenBucket': async (redis, key) => {
    const bucket = new RedisTokenBucket({ redis, key, limits: LIMITS });
    return () => bucket.consume(1);
  },
};

const manyKeys: Record<string, Setup> = {
  'minimal two-limit Lua bucket': async (redis, key) => {
    const call = await minimalScript(redis);
    const next = roundRobin(keyNames(`${key}:`));
    return () => call(next());
  },
  'bucketflow RedisKeyedTokenBucket': async (redis, key) => {
    const keyed = new RedisKeyedTokenBucket({ redis, prefix: `${key}:`, limits: LIMITS });
    const next = roundRobin(keyNames());
    return () => keyed.consume(next());
  },
};

export const redisTwoLimitsC64 = redisRow(64, oneKey);
export const redisKeysTwoLimitsC64 = redisRow(64, manyKeys);
