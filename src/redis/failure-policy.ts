// What a Redis limiter answers when Redis could not decide (the `onRedisError` option of every
// Redis kind): one policy type, checked for the kind of limiter it is given to, and applied to a
// failed request the same way by every verb.

import { blindDecision, type LimitConfig } from '../core/decision.js';
import { RateLimitExceeded, asConsumed } from '../errors.js';
import { publishFallback } from '../events.js';
import { kindOf } from '../kinds.js';
import { Semaphore, type Lease } from '../semaphore.js';
import type { AcquirableBucket, Decision, KeyedAcquirable } from '../types.js';
import * as check from '../validate.js';
import { RedisBucketError } from './redis-call.js';

/**
 * What a Redis limiter does when Redis fails (an error, no connection, or no answer within
 * `timeout`): `'throw'` (the default) rejects with a {@link RedisBucketError}, never admitting what
 * Redis did not; `'allow'` admits (fail open); `'deny'` refuses (fail closed: `consume` resolves
 * `false`, `acquire` rejects `RateLimitExceeded`); a local limiter (the "insurance" limiter) is
 * asked instead, with the caller's `maxWait` and `signal`.
 *
 * `Fallback` is the local limiter that may stand in, of the same kind as the Redis one: a single
 * bucket (e.g. a `TokenBucket`) for `RedisTokenBucket` and for every bucket of a Redis hierarchy,
 * a keyed limiter (e.g. a `KeyedTokenBucket`, asked with the same key) for `RedisKeyedTokenBucket`.
 */
export type RedisFailurePolicy<Fallback extends AcquirableBucket | KeyedAcquirable = AcquirableBucket> =
  | 'throw'
  | 'allow'
  | 'deny'
  | Fallback;

/** How a request whose Redis call failed is answered; errors other than a {@link RedisBucketError} pass through. */
/**
 * How a request whose Redis call failed is answered; errors other than a {@link RedisBucketError}
 * pass through. `owner` is the limiter the request was made on: a `bucketflow:fallback` event
 * names it when the policy answers.
 */
export interface FailureAnswer {
  /** A request that does not wait: resolves `true` (admitted) or `false` (refused), or rejects. */
  take(owner: object, error: unknown, n: number): Promise<boolean>;
  /** A request that may wait up to `maxWait` ms: resolves (admitted) or rejects (`RateLimitExceeded` if refused). */
  acquire(owner: object, error: unknown, n: number, maxWait: number, signal: AbortSignal | undefined): Promise<void>;
  /**
   * A `take(n)` on a chain with `limits`: the local fallback's own decision, or under `'allow'` /
   * `'deny'` one that knows no levels (every limit reads 0 remaining); rejects under `'throw'`.
   */
  decide(owner: object, error: unknown, n: number, limits: readonly LimitConfig[]): Promise<Decision>;
}

type Fixed = 'throw' | 'allow' | 'deny';
type Ask = (n: number, maxWait: number, signal: AbortSignal | undefined) => Promise<void>;
type Decide = (n: number) => Decision | Promise<Decision>;

class Answer implements FailureAnswer {
  readonly #policy: Fixed | Ask;
  /** The `onRedisError` value, as events show it. */
  readonly #shown: unknown;
  readonly #decide: Decide | undefined;
  /** The `retryAfter` of a refusal under `'deny'` (ms): the limiter's timeout. */
  readonly #retryAfter: number;

  constructor(policy: Fixed | Ask, shown: unknown, retryAfter: number, decide?: Decide) {
    this.#policy = policy;
    this.#shown = shown;
    this.#decide = decide;
    this.#retryAfter = retryAfter;
  }

  decide(owner: object, error: unknown, n: number, limits: readonly LimitConfig[]): Promise<Decision> {
    const policy = this.#policy;
    if (!(error instanceof RedisBucketError)) return Promise.reject(error);
    publishFallback(owner, this.#shown);
    if (policy === 'throw') return Promise.reject(error);
    if (policy === 'allow') return Promise.resolve(blindDecision(true, 0, limits));
    if (policy === 'deny') return Promise.resolve(blindDecision(false, this.#retryAfter, limits));
    if (this.#decide !== undefined) {
      try {
        return Promise.resolve(this.#decide(n));
      } catch (fallbackError) {
        return Promise.reject(fallbackError);
      }
    }
    // A fallback without take(): its non-waiting answer, without levels.
    return policy(n, 0, undefined).then(
      () => blindDecision(true, 0, limits),
      (refusal: unknown) => {
        if (!(refusal instanceof RateLimitExceeded)) throw refusal;
        return blindDecision(false, refusal.retryAfter, limits);
      },
    );
  }

  take(owner: object, error: unknown, n: number): Promise<boolean> {
    return asConsumed(this.acquire(owner, error, n, 0, undefined));
  }

  acquire(owner: object, error: unknown, n: number, maxWait: number, signal: AbortSignal | undefined): Promise<void> {
    const policy = this.#policy;
    if (!(error instanceof RedisBucketError)) return Promise.reject(error);
    publishFallback(owner, this.#shown);
    if (policy === 'throw') return Promise.reject(error);
    if (policy === 'allow') return Promise.resolve();
    if (policy === 'deny') return Promise.reject(denied(error, this.#retryAfter));
    return policy(n, maxWait, signal);
  }
}

/** The refusal under `'deny'`: `retryAfter` is the limiter's timeout, `cause` the Redis error. */
function denied(error: RedisBucketError, retryAfter: number): RateLimitExceeded {
  const refused = new RateLimitExceeded(retryAfter, `rate limit exceeded: Redis failed and the policy is 'deny' (${error.message})`);
  refused.cause = error;
  return refused;
}

/**
 * The local fallback's answer to a request Redis could not decide. A request larger than the
 * fallback can ever hold is refused (`RateLimitExceeded`, never if retried), not a `RangeError`:
 * the caller asked within the Redis limiter's capacity, and a non-waiting consume must answer `false`.
 */
function askFallback(capacity: number, ask: () => Promise<void>, n: number): Promise<void> {
  if (n > capacity) {
    return Promise.reject(new RateLimitExceeded(Infinity, `rate limit exceeded: Redis failed and the local fallback bucket's capacity (${capacity}) is below n (${n})`));
  }
  return ask();
}

/** What a {@link RedisSemaphore}'s `onRedisError` may be: the fixed policies, or a local `Semaphore`. */
export type RedisSemaphoreFailurePolicy = 'throw' | 'allow' | 'deny' | Semaphore;

/**
 * How a semaphore's request whose Redis call failed is answered: resolves a local `Lease` (the
 * fallback's), `null` (admitted without a slot: `'allow'`), or `undefined` (a `tryAcquire`
 * refused); rejects otherwise (`'throw'`, or a refused `acquire`).
 */
export type SemaphoreFailureAnswer = (owner: object, error: RedisBucketError, tryOnly: boolean, maxWait: number,
  signal: AbortSignal | undefined) => Promise<Lease | null | undefined>;

/** Checks a semaphore's `onRedisError`; `timeout` (ms) is the `retryAfter` of a refusal under `'deny'`. */
export function checkSemaphoreFailurePolicy(value: unknown, timeout: number): SemaphoreFailureAnswer {
  let answer: (error: RedisBucketError, tryOnly: boolean, maxWait: number, signal: AbortSignal | undefined) => Promise<Lease | null | undefined>;
  if (value === undefined || value === 'throw') answer = (error) => Promise.reject(error);
  else if (value === 'allow') answer = () => Promise.resolve(null);
  else if (value === 'deny') answer = (error, tryOnly) => (tryOnly ? Promise.resolve(undefined) : Promise.reject(denied(error, timeout)));
  else if (value instanceof Semaphore) answer = (_error, tryOnly, maxWait, signal) => (tryOnly ? Promise.resolve(value.tryAcquire()) : value.acquire({ maxWait, signal }));
  else throw new TypeError(`onRedisError must be 'throw', 'allow', 'deny' or a local Semaphore, got ${check.show(value)}`);
  const shown = value ?? 'throw';
  return (owner, error, tryOnly, maxWait, signal) => {
    publishFallback(owner, shown);
    return answer(error, tryOnly, maxWait, signal);
  };
}

const FALLBACK = {
  single: {
    what: 'a local bucket (e.g. a TokenBucket)',
    wrongKind: 'onRedisError must be a single bucket (e.g. a TokenBucket), not a keyed limiter: a keyed fallback goes with a RedisKeyedTokenBucket',
  },
  keyed: {
    what: 'a local keyed limiter (e.g. a KeyedTokenBucket)',
    wrongKind: 'onRedisError must be a keyed limiter (e.g. a KeyedTokenBucket), not a single bucket: one bucket would be shared by every key',
  },
} as const;

/**
 * Checks the `onRedisError` option of a single bucket (or a hierarchy's buckets) and returns how
 * its failed requests are answered; `timeout` (ms) is the `retryAfter` of a refusal under `'deny'`.
 */
export function checkFailurePolicy(value: unknown, kind: 'single', timeout: number): FailureAnswer;
/** The same for a keyed limiter: how a failed request of one client key is answered. */
export function checkFailurePolicy(value: unknown, kind: 'keyed', timeout: number): (key: string) => FailureAnswer;
export function checkFailurePolicy(value: unknown, kind: 'single' | 'keyed', timeout: number): FailureAnswer | ((key: string) => FailureAnswer) {
  if (value === undefined || value === 'throw' || value === 'allow' || value === 'deny') {
    const fixed = new Answer(value ?? 'throw', value ?? 'throw', timeout);
    return kind === 'single' ? fixed : () => fixed;
  }
  const words = FALLBACK[kind];
  if (kindOf(value) === 'semaphore') throw new TypeError(`onRedisError must be ${words.what}, not a semaphore: a local Semaphore is the fallback of a RedisSemaphore`);
  if (typeof value !== 'object' || value === null || typeof (value as { acquire?: unknown }).acquire !== 'function'
    || typeof (value as { capacity?: unknown }).capacity !== 'number') {
    throw new TypeError(`onRedisError must be 'throw', 'allow', 'deny' or ${words.what}, got ${check.show(value)}`);
  }
  if (kindOf(value) === (kind === 'single' ? 'keyed' : 'single')) throw new TypeError(words.wrongKind);
  if (kind === 'single') {
    const fallback = value as AcquirableBucket & { take?: (n: number) => Decision | Promise<Decision> };
    const decide = typeof fallback.take === 'function' ? (n: number) => fallback.take!(n) : undefined;
    return new Answer((n, maxWait, signal) => askFallback(fallback.capacity, () => fallback.acquire(n, { maxWait, signal }), n), value, timeout, decide);
  }
  const fallback = value as KeyedAcquirable & { take?: (key: string, n: number) => Decision | Promise<Decision> };
  const take = typeof fallback.take === 'function' ? fallback.take.bind(fallback) : undefined;
  return (key) => new Answer((n, maxWait, signal) => askFallback(fallback.capacity, () => fallback.acquire(key, n, { maxWait, signal }), n), value, timeout,
    take === undefined ? undefined : (n) => take(key, n));
}
