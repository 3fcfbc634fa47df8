import type { Cluster, Redis } from 'ioredis';
import { checkLimits, type AcquirableBucket, type AcquireOptions, type Limit } from '../local-bucket.js';
import { markKind } from '../kinds.js';
import { lockFields } from '../readonly.js';
import * as check from '../validate.js';
import {
  RedisLimiter,
  checkClient,
  checkKeyName,
  checkPolicy,
  checkTimeout,
  limitArgs,
  type FailureAnswer,
  type RedisConsumeOptions,
  type RedisFailurePolicy,
  type RedisTarget,
} from './redis-limiter.js';

/** One inline limit, or several as `limits` (all charged together, all or nothing). */
export type RedisLimitOptions = (Limit & { limits?: undefined }) | {
  /** Several limits on the same key (e.g. 10 per second and 1,000 per hour). */
  limits: readonly Limit[];
  capacity?: undefined;
  fillRate?: undefined;
  initialTokens?: undefined;
};

/** What every Redis bucket is given besides its limits. */
export interface RedisConnectionOptions {
  /** An ioredis `Redis` or `Cluster` client (its `keyPrefix`, if any, applies to our keys too). */
  redis: Redis | Cluster;
  /** Longest wait in ms for Redis to answer a call before it counts as failed. Default 1000. */
  timeout?: number;
  /**
   * What to do when Redis fails (an error, no connection, or no answer within `timeout`):
   * `'throw'` (default) rejects with a {@link RedisBucketError}; `'allow'` admits; `'deny'` refuses;
   * a local bucket (e.g. `new TokenBucket(...)`) is asked instead.
   */
  onRedisError?: RedisFailurePolicy;
}

/** Options of {@link RedisTokenBucket}. */
export type RedisTokenBucketOptions = RedisLimitOptions & RedisConnectionOptions & {
  /** The Redis key holding the bucket's state, used as given (add any prefix or `{hash tag}` yourself). */
  key: string;
};

const KEYS = ['redis', 'key', 'capacity', 'fillRate', 'initialTokens', 'limits', 'timeout', 'onRedisError'] as const;

/**
 * A token bucket whose state lives in Redis, shared by every process that uses the same key.
 * Each request is one atomic Lua script using the server's clock; waiters reserve their tokens
 * in it and are served first come, first served across processes. The key expires once the
 * bucket would be full again.
 *
 * @example
 * const bucket = new RedisTokenBucket({ redis: new Redis(), key: 'rl:api', capacity: 10, fillRate: 5 });
 * if (await bucket.consume()) handle(); else reply(429);
 */
export class RedisTokenBucket implements AcquirableBucket {
  /** The Redis key of this bucket. */
  readonly key: string;
  /** Most tokens the bucket holds; with several limits, the smallest capacity. */
  readonly capacity: number;
  /** Refill rate in tokens per second; with several limits, the slowest. */
  readonly fillRate: number;
  /** The limits this bucket enforces, as configured. */
  readonly limits: readonly Readonly<Limit>[];
  /** Milliseconds Redis has to answer a call. */
  readonly timeout: number;
  readonly #limiter: RedisLimiter;
  readonly #target: RedisTarget;
  readonly #onFailure: FailureAnswer;

  constructor(options: RedisTokenBucketOptions) {
    const o = check.options<RedisTokenBucketOptions>('options', options);
    if (options === undefined) throw new TypeError('options are required: { redis, key, capacity, fillRate }');
    check.knownKeys('options', o, KEYS);
    const client = checkClient(o.redis);
    const key = checkKeyName('key', o.key, 'the Redis key of the bucket');
    const limits = checkLimits(o);
    this.timeout = checkTimeout(o.timeout);
    this.#onFailure = checkPolicy(o.onRedisError);
    this.key = key;
    this.limits = Object.freeze(limits.map((l) => Object.freeze({ ...l })));
    this.capacity = Math.min(...limits.map((l) => l.capacity));
    this.fillRate = Math.min(...limits.map((l) => l.fillRate));
    this.#limiter = new RedisLimiter(client, this.timeout);
    this.#target = { keys: [key], limitArgs: limitArgs(limits), capacity: this.capacity, what: `RedisTokenBucket ${JSON.stringify(key)}` };
    if (limits.some((l) => l.initialTokens < l.capacity)) this.#limiter.create(this.#target);
    lockFields<RedisTokenBucket>(this, ['key', 'capacity', 'fillRate', 'limits', 'timeout']);
  }

  /**
   * Resolves `true` after taking `n` tokens (default 1), or `false` having taken nothing: at once
   * without `block`; with `block`, after waiting (without blocking the event loop), or at once
   * if the wait would exceed `maxWait` ms. `n > capacity` resolves `false`, or rejects
   * `RangeError` with `block`. Rejects with `signal.reason` on abort, and with a
   * {@link RedisBucketError} when Redis fails (unless `onRedisError` says otherwise).
   */
  consume(n = 1, options?: RedisConsumeOptions): Promise<boolean> {
    return this.#limiter.consume(this.#target, n, options, this.#onFailure);
  }

  /**
   * Waits until `n` tokens are taken. Rejects with {@link RateLimitExceeded} when the wait would
   * exceed `maxWait` (`maxWait: 0` is the non-waiting form that reports `retryAfter`), with
   * `signal.reason` on abort (its reserved tokens go back), with `RangeError` if `n > capacity`,
   * and with a {@link RedisBucketError} when Redis fails (unless `onRedisError` says otherwise).
   */
  acquire(n = 1, options?: AcquireOptions): Promise<void> {
    return this.#limiter.acquire(this.#target, n, options, this.#onFailure);
  }

  /** Milliseconds until `n` tokens would be available (0 if now, `Infinity` if never). Changes nothing. */
  timeUntil(n = 1): Promise<number> {
    return this.#limiter.timeUntil(this.#target, n);
  }

  /** Tokens in the bucket now (the lowest level over its limits); below 0 while waiters hold reservations. */
  tokens(): Promise<number> {
    return this.#limiter.tokens(this.#target);
  }
}

markKind(RedisTokenBucket, 'single');
