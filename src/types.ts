import type { Clock } from './clock.js';

/** One rate limit: a burst size and a refill rate. */
export interface Limit {
  /** Most tokens the limit holds (burst size). A finite number > 0. */
  capacity: number;
  /** Refill rate in tokens per second. A finite number >= 0; 0 makes a fixed quota. */
  fillRate: number;
  /** Tokens at creation, in [0, capacity]. Default: `capacity` (a new bucket starts full). */
  initialTokens?: number;
}

/**
 * Options of {@link TokenBucket} and {@link AsyncTokenBucket}: one limit given inline, or several
 * as `limits` (e.g. 10 per second **and** 1,000 per hour), which are charged all or nothing.
 */
export type TokenBucketOptions = (Limit & { limits?: undefined } | {
  /** Several limits at once; a request passes only when every one of them has the tokens. */
  limits: readonly Limit[];
  capacity?: undefined;
  fillRate?: undefined;
  initialTokens?: undefined;
}) & {
  /** Time source in milliseconds. Default: monotonic `performance.now()`. */
  clock?: Clock;
  /**
   * Most callers that may wait in `acquire` (or an async `consume` with `block`) at once; past it a
   * request that would wait is refused at once with `RateLimitExceeded`. Default: unbounded.
   */
  maxWaiting?: number;
};

/**
 * New limits for `setLimits`: one limit inline, or several as `limits`. Tokens earned so far count
 * at the old rates; a level above its new capacity is cut to it. Limits are matched by position:
 * a limit with no counterpart before starts at its `initialTokens` (default: full).
 */
export type LimitsUpdate = Limit & { limits?: undefined } | {
  limits: readonly Limit[];
  capacity?: undefined;
  fillRate?: undefined;
  initialTokens?: undefined;
};

/**
 * Per-key limits (tiers): the limits of `key`'s bucket, one or several. Called when a key's bucket
 * is made (its first request, or its first after it was forgotten as full), synchronously: keep it
 * to a lookup (a plan read from a cache, say), as every new key waits for it. Keys whose limits are
 * equal share one copy of them, so a few tiers cost a few objects however many keys there are.
 */
export type LimitsFor = (key: string) => Limit | readonly Limit[];

/** Options of the waiting forms (`acquire`, async `consume` with `block`). */
export interface AcquireOptions {
  /** Longest wait in milliseconds the caller accepts (default `Infinity`); `0` means do not wait. */
  maxWait?: number;
  /** Aborting it rejects the wait with `signal.reason` and gives its tokens back. */
  signal?: AbortSignal;
}

/** Options of `consume` on the promise-based buckets (async and Redis): wait, or not. */
export interface AsyncConsumeOptions extends AcquireOptions {
  /** Wait (without blocking the event loop) until the tokens are there. Default `false`. */
  block?: boolean;
}

/** Options of the synchronous `consume`. */
export interface ConsumeOptions {
  /** Wait (blocking the thread) until the tokens are there. Default `false`. */
  block?: boolean;
  /** With `block`: give up at once, taking nothing, if the wait would exceed this many ms. */
  maxWait?: number;
}

/** Any bucket that can be waited on: what `rateLimit({ bucket })` accepts. */
export interface AcquirableBucket {
  readonly capacity: number;
  acquire(n?: number, options?: AcquireOptions): Promise<void>;
}

/**
 * A limit on how many calls run at once, in memory (`Semaphore`) or on Redis (`RedisSemaphore`):
 * what `rateLimit({ concurrency })` accepts to share.
 */
export interface ConcurrencyLimiter {
  /** Most holders at once. */
  readonly limit: number;
  /** Waits for a slot (as `acquire`), calls `fn`, and frees the slot when its result settles. */
  run<T>(fn: () => T | PromiseLike<T>, options?: AcquireOptions): Promise<Awaited<T>>;
}

/**
 * What every keyed limiter offers, in memory (`KeyedTokenBucket`) or on Redis: one bucket per key,
 * all with the same configuration, waited on without blocking the event loop.
 */
export interface KeyedAcquirable {
  /** The largest request a key can ever pass (with several limits, the smallest capacity). */
  readonly capacity: number;
  /**
   * Waits until `n` tokens of `key`'s bucket are taken; rejects with `RateLimitExceeded` when the
   * wait would exceed `maxWait`, with `signal.reason` on abort.
   */
  acquire(key: string, n?: number, options?: AcquireOptions): Promise<void>;
}

/** One limit's part of a {@link Decision}. */
export interface LimitDecision {
  /** The limit's capacity, as configured. */
  readonly capacity: number;
  /** The limit's refill rate in tokens per second, as configured. */
  readonly fillRate: number;
  /** Tokens this limit holds after the decision (never below 0 here: debt owed to waiters reads 0). */
  readonly remaining: number;
  /** Milliseconds until this limit is full again (`Infinity` for a fixed quota that is not full). */
  readonly resetAfter: number;
}

/**
 * The whole answer of a non-waiting `take(n)`: whether the tokens were taken, and what every
 * limit holds after it. What HTTP rate-limit headers are made from.
 */
export interface Decision {
  /** The tokens were taken (from every limit and every level). */
  readonly allowed: boolean;
  /** The fewest tokens left over all limits and levels after this decision (never below 0). */
  readonly remaining: number;
  /** Milliseconds until the same request could pass: 0 if allowed, `Infinity` if never. */
  readonly retryAfter: number;
  /** Milliseconds until every limit is full again: the longest of `limits[i].resetAfter`. */
  readonly resetAfter: number;
  /** One entry per configured limit; a hierarchy lists the leaf's first, then its ancestors'. */
  readonly limits: readonly LimitDecision[];
}
