// The verbs of one Redis bucket, a plain one or a bucket of a Redis hierarchy: a request takes
// from its chain of keys (its own, then any ancestors') in one script; the read-outs read its
// own key only.

import { decisionChannel, isAllowed, isTrue, realClock, watchDecision, watchWait } from '../events.js';
import { slowdown } from '../core/limits.js';
import { lockChangeable, replaceField } from '../readonly.js';
import type { AcquirableBucket, AcquireOptions, AsyncConsumeOptions, Decision } from '../types.js';
import type { FailureAnswer } from './failure-policy.js';
import { WaitingCount, type RedisLimiter } from './redis-limiter.js';
import type { RedisTarget } from './target.js';

/** What a Redis bucket is made of, once its options are checked. */
export interface RedisBucketParts {
  readonly capacity: number;
  readonly fillRate: number;
  readonly limiter: RedisLimiter;
  /** The keys a request takes from: the bucket's own, then its ancestors' (leaf first). */
  readonly chain: RedisTarget;
  /** The bucket's own key and limits. */
  readonly own: RedisTarget;
  readonly onFailure: FailureAnswer;
  /** Some limit of its own starts below capacity: the key is made now (a full bucket needs none). */
  readonly startsBelowCapacity: boolean;
  /** `maxWaiting`, checked. */
  readonly maxWaiting: number;
}

/** A bucket's new targets, and what it reads from them (set in RedisBucket's static block). */
export let retarget: (changes: readonly { bucket: RedisBucket; chain: RedisTarget; own: RedisTarget }[]) => void;
/** Refills a bucket's own key to now at its current limits, before they change (best effort). */
export let settleOwn: (bucket: RedisBucket) => Promise<void>;
/** A bucket's current targets. */
export let targetsOf: (bucket: RedisBucket) => { chain: RedisTarget; own: RedisTarget };

export abstract class RedisBucket implements AcquirableBucket {
  /** Most tokens the bucket holds; with several limits, the smallest capacity. */
  readonly capacity: number;
  /** Refill rate in tokens per second; with several limits, the slowest. */
  readonly fillRate: number;
  readonly #limiter: RedisLimiter;
  #chain: RedisTarget;
  #own: RedisTarget;
  readonly #onFailure: FailureAnswer;
  readonly #waiting: WaitingCount;

  constructor(parts: RedisBucketParts) {
    this.capacity = parts.capacity;
    this.fillRate = parts.fillRate;
    this.#limiter = parts.limiter;
    this.#chain = parts.chain;
    this.#own = parts.own;
    this.#onFailure = parts.onFailure;
    this.#waiting = new WaitingCount(parts.maxWaiting);
    if (parts.startsBelowCapacity) parts.limiter.create(parts.own);
    lockChangeable<RedisBucket>(this, ['capacity', 'fillRate']);
  }

  static {
    retarget = (buckets) => {
      for (const { bucket, chain, own } of buckets) {
        const ratio = slowdown(bucket.#chain.limits.map((l) => l.fillRate), chain.limits.map((l) => l.fillRate));
        bucket.#chain = chain;
        bucket.#own = own;
        replaceField<RedisBucket, 'capacity'>(bucket, 'capacity', Math.min(...own.limits.map((l) => l.capacity)));
        replaceField<RedisBucket, 'fillRate'>(bucket, 'fillRate', Math.min(...own.limits.map((l) => l.fillRate)));
        const key = own.keys[0]!;
        bucket.#limiter.retime((k) => (k === key ? ratio : 1), (k) => (k === key ? chain : undefined));
      }
    };
    settleOwn = (bucket) => bucket.#limiter.settle(bucket.#own);
    targetsOf = (bucket) => ({ chain: bucket.#chain, own: bucket.#own });
  }

  /**
   * Resolves `true` after taking `n` tokens (default 1) from this bucket (and every ancestor, in a
   * hierarchy), or `false` having taken nothing: at once without `block`; with `block`, after
   * waiting (without blocking the event loop) for the slowest level, or at once if the wait would
   * exceed `maxWait` ms. `n` above a capacity on the way resolves `false`, or rejects `RangeError`
   * with `block`. Rejects with `signal.reason` on abort, and with a `RedisBucketError` when Redis
   * fails (unless `onRedisError` says otherwise).
   */
  consume(n = 1, options?: AsyncConsumeOptions): Promise<boolean> {
    const taken = this.#limiter.consume(this.#chain, n, options, this.#onFailure, this.#waiting);
    return decisionChannel.hasSubscribers ? watchDecision(this, undefined, n, taken, isTrue) : taken;
  }

  /**
   * Takes `n` tokens (default 1) if every limit on the way has them, without waiting, and resolves
   * the whole decision: whether they were taken, what each limit holds after it (this bucket's
   * first, then its ancestors'), how long until the same request could pass and until every limit
   * is full. One script call, gathered with the other calls of the tick. `n` above a capacity is a
   * refused decision with `retryAfter: Infinity`.
   */
  take(n = 1): Promise<Decision> {
    const decided = this.#limiter.take(this.#chain, n, this.#onFailure);
    return decisionChannel.hasSubscribers ? watchDecision(this, undefined, n, decided, isAllowed) : decided;
  }

  /**
   * Waits until `n` tokens are taken. Rejects with `RateLimitExceeded` when the wait would exceed
   * `maxWait` (`maxWait: 0` is the non-waiting form that reports `retryAfter`), with
   * `signal.reason` on abort (its reserved tokens go back), with `RangeError` if `n` is above a
   * capacity, and with a `RedisBucketError` when Redis fails (unless `onRedisError` says otherwise).
   */
  acquire(n = 1, options?: AcquireOptions): Promise<void> {
    const waited = this.#limiter.acquire(this.#chain, n, options, this.#onFailure, this.#waiting);
    return decisionChannel.hasSubscribers ? watchWait(this, undefined, n, realClock, waited) : waited;
  }

  /**
   * Milliseconds until this bucket's own level(s) would hold `n` tokens (0 if now, `Infinity` if
   * never). Changes nothing.
   */
  timeUntil(n = 1): Promise<number> {
    return this.#limiter.timeUntil(this.#own, n);
  }

  /**
   * Takes `n` tokens (default 1) from this bucket (and every ancestor, in a hierarchy) at once,
   * even if that leaves a level below 0: nothing passes until time has paid the debt back (a
   * penalty for abuse). One atomic script; rejects with a `RedisBucketError` when Redis fails,
   * whatever `onRedisError` says (a penalty that did not happen is not hidden).
   */
  penalize(n = 1): Promise<void> {
    return this.#limiter.adjust(this.#chain, n, -1);
  }

  /** Gives `n` tokens (default 1) to this bucket (and every ancestor), never above a capacity. One atomic script. */
  reward(n = 1): Promise<void> {
    return this.#limiter.adjust(this.#chain, n, 1);
  }

  /** Callers of this process waiting in this bucket's `acquire` now (what `maxWaiting` bounds). */
  get waiting(): number {
    return this.#waiting.count;
  }

  /** Tokens in this bucket now (the lowest of its own levels); below 0 while waiters hold reservations. */
  tokens(): Promise<number> {
    return this.#limiter.tokens(this.#own);
  }
}
