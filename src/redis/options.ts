// The constructor options every Redis kind shares, and their checks: made before any command is
// sent, so a mistake shows when the limiter is made, not in the first outage.

import type { AcquirableBucket, KeyedAcquirable, Limit } from '../types.js';
import * as check from '../validate.js';
import { MAX_TIMER_DELAY } from '../waiting/timer-delay.js';
import type { CircuitBreakerOptions } from './circuit.js';
import type { RedisFailurePolicy } from './failure-policy.js';
import { clientOf, type RedisClient, type SupportedRedisClient } from './client.js';
import { limitArgs } from './target.js';

/** One inline limit, or several as `limits` (all charged together, all or nothing). */
export type RedisLimitOptions = (Limit & { limits?: undefined }) | {
  /** Several limits on the same key (e.g. 10 per second and 1,000 per hour). */
  limits: readonly Limit[];
  capacity?: undefined;
  fillRate?: undefined;
  initialTokens?: undefined;
};

/**
 * What every Redis limiter is given besides its limits. `Fallback` is the kind of local limiter
 * its `onRedisError` may name (see {@link RedisFailurePolicy}).
 */
export interface RedisConnectionOptions<Fallback extends AcquirableBucket | KeyedAcquirable = AcquirableBucket> {
  /**
   * The Redis client: an ioredis or iovalkey `Redis` or `Cluster`, or a node-redis client
   * (`createClient`) or cluster (`createCluster`), connected. Its `keyPrefix`, if any, applies
   * to our keys too.
   */
  redis: SupportedRedisClient;
  /** Longest wait in ms for Redis to answer a call before it counts as failed. Default 1000. */
  timeout?: number;
  /**
   * What to do when Redis fails (an error, no connection, or no answer within `timeout`):
   * `'throw'` (default) rejects with a `RedisBucketError`; `'allow'` admits; `'deny'` refuses;
   * a local limiter of the same kind (e.g. `new TokenBucket(...)`) is asked instead.
   */
  onRedisError?: RedisFailurePolicy<Fallback>;
  /**
   * After `failures` calls in a row fail for want of Redis (no answer in time, no connection), stop
   * asking it for `resetAfter` ms: calls go straight to `onRedisError`, without waiting out
   * `timeout` each. Then one call probes Redis; its success closes the circuit. Default: none.
   */
  circuitBreaker?: CircuitBreakerOptions;
  /**
   * Most callers of this process that may wait in this limiter's `acquire` at once (a keyed
   * limiter: over all keys); past it, a request that would wait is refused at once with
   * `RateLimitExceeded`. Default: unbounded.
   */
  maxWaiting?: number;
}

/** Checks a `redis` option: one of the supported clients, as the engine talks to it. */
export function checkClient(value: unknown): RedisClient {
  return clientOf(value);
}

// A longer deadline than a timer can hold would fire the deadline timer of every call at once, over
// and over (see MAX_TIMER_DELAY).

/** Checks the `timeout` option (ms, default 1000). */
export function checkTimeout(value: unknown): number {
  if (value === undefined) return 1000;
  const timeout = check.positive('timeout', value);
  if (timeout > MAX_TIMER_DELAY) throw new RangeError(`timeout must be at most ${MAX_TIMER_DELAY} ms (about 24.8 days), got ${timeout}`);
  return timeout;
}

/** Checks a string option that names Redis keys (`key`, `prefix`): a non-empty string. */
export function checkKeyName(name: string, value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${name} must be a non-empty string (${what}), got ${check.show(value)}`);
  return value;
}

/** The limits of a Redis limiter, checked: as it shows them and as its scripts take them. */
export interface CheckedLimits {
  /** As configured, frozen. */
  readonly limits: readonly Readonly<Limit>[];
  /** The smallest capacity. */
  readonly capacity: number;
  /** The slowest fill rate (tokens per second). */
  readonly fillRate: number;
  /** The scripts' arguments for one key with these limits. */
  readonly args: readonly string[];
  /** Some limit starts below its capacity. */
  readonly startsBelowCapacity: boolean;
}

/** Checks the inline limit or the `limits` list of Redis limiter options. */
export function checkLimitOptions(o: Partial<Limit> & { limits?: unknown }): CheckedLimits {
  return checkedLimits(check.limitsOf(o));
}

/** What the Redis kinds keep of a checked list of limits. */
export function checkedLimits(limits: readonly check.LimitShape[]): CheckedLimits {
  return {
    limits: Object.freeze(limits.map((l) => Object.freeze({ ...l }))),
    capacity: Math.min(...limits.map((l) => l.capacity)),
    fillRate: Math.min(...limits.map((l) => l.fillRate)),
    args: limitArgs(limits),
    startsBelowCapacity: limits.some((l) => l.initialTokens < l.capacity),
  };
}
