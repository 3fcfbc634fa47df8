import { markKind } from '../kinds.js';
import { slowdown } from '../core/limits.js';
import { lockChangeable, lockFields, replaceField } from '../readonly.js';
import type { AcquireOptions, AsyncConsumeOptions, Decision, KeyedAcquirable, Limit, LimitsFor, LimitsUpdate } from '../types.js';
import * as check from '../validate.js';
import { decisionChannel, isAllowed, isTrue, realClock, watchDecision, watchWait } from '../events.js';
import { checkCircuitBreaker } from './circuit.js';
import { checkFailurePolicy, type FailureAnswer } from './failure-policy.js';
import type { RedisClient } from './client.js';
import { checkClient, checkKeyName, checkLimitOptions, checkTimeout, checkedLimits, type CheckedLimits, type RedisConnectionOptions, type RedisLimitOptions } from './options.js';
import { RedisLimiter, WaitingCount } from './redis-limiter.js';
import type { RedisTarget } from './target.js';

/** Options of {@link RedisKeyedTokenBucket}: one configuration for every key, or per-key limits (`limitsFor`). */
export type RedisKeyedTokenBucketOptions = (RedisLimitOptions | RedisTieredOptions) & RedisConnectionOptions<KeyedAcquirable> & {
  /** Start of every Redis key: client key `k` lives at `${prefix}${k}`. A non-empty string. */
  prefix: string;
};

/** Per-key limits in place of `capacity`/`fillRate`/`limits`. */
export interface RedisTieredOptions {
  /**
   * The limits of `key`, asked on **every** request (this process remembers no keys; Redis does):
   * keep it to a lookup, and return one of a few shared tier objects, since what it returns is
   * checked once per object and remembered by identity.
   */
  limitsFor: LimitsFor;
  capacity?: undefined;
  fillRate?: undefined;
  initialTokens?: undefined;
  limits?: undefined;
}

const KEYS = ['redis', 'prefix', 'capacity', 'fillRate', 'initialTokens', 'limits', 'limitsFor', 'timeout', 'onRedisError', 'circuitBreaker', 'maxWaiting'] as const;

/**
 * Token buckets for many keys (users, IPs, API keys) in Redis, with one configuration: the
 * interface of the in-memory `KeyedTokenBucket`, with promises. Each client key is one Redis key
 * under `prefix`, created by its first request at `initialTokens` and expiring when its bucket
 * would be full again, so memory follows the active keys. One script call per request; each key
 * is its own Cluster slot.
 *
 * @example
 * const perUser = new RedisKeyedTokenBucket({ redis, prefix: 'rl:user:', capacity: 10, fillRate: 1 });
 * if (!(await perUser.consume(userId))) reply(429);
 */
export class RedisKeyedTokenBucket implements KeyedAcquirable {
  /** The key prefix. */
  readonly prefix: string;
  /** Most tokens one key's bucket holds; with several limits, the smallest capacity. `NaN` with `limitsFor`. */
  readonly capacity: number;
  /** Refill rate in tokens per second; with several limits, the slowest. `NaN` with `limitsFor`. */
  readonly fillRate: number;
  /** The limits every key's bucket enforces, as configured; empty with `limitsFor`. */
  readonly limits: readonly Readonly<Limit>[];
  /** Milliseconds Redis has to answer a call. */
  readonly timeout: number;
  readonly #client: RedisClient;
  readonly #limiter: RedisLimiter;
  #limitArgs: readonly string[];
  #limitsFor: LimitsFor | undefined;
  /** What `limitsFor` returned, checked, by the identity of what it returned. */
  #tiers = new WeakMap<object, CheckedLimits>();
  readonly #onFailure: (key: string) => FailureAnswer;
  readonly #waiting: WaitingCount;

  constructor(options: RedisKeyedTokenBucketOptions) {
    const o = check.required<RedisKeyedTokenBucketOptions>(options, KEYS, '{ redis, prefix, capacity, fillRate }');
    const client = checkClient(o.redis);
    this.prefix = checkKeyName('prefix', o.prefix, 'keys live at prefix + key');
    const tiered = (o as { limitsFor?: unknown }).limitsFor !== undefined;
    this.#limitsFor = tiered ? check.limitsForOption(o) : undefined;
    const limits = tiered ? TIERED : checkLimitOptions(o as RedisLimitOptions);
    this.timeout = checkTimeout(o.timeout);
    this.#onFailure = checkFailurePolicy(o.onRedisError, 'keyed', this.timeout);
    this.limits = limits.limits;
    this.capacity = limits.capacity;
    this.fillRate = limits.fillRate;
    this.#limitArgs = limits.args;
    this.#client = client;
    this.#limiter = new RedisLimiter(client, this.timeout, checkCircuitBreaker(o.circuitBreaker));
    this.#limiter.owner = this;
    this.#waiting = new WaitingCount(check.maxWaiting(o.maxWaiting));
    lockFields<RedisKeyedTokenBucket>(this, ['prefix', 'timeout']);
    lockChangeable<RedisKeyedTokenBucket>(this, ['capacity', 'fillRate', 'limits']);
  }

  /**
   * Changes the limits this process sends for every key from now on, or with `{ limitsFor }` (on a
   * limiter made with it) the per-key tiers. A key's level above a new capacity is cut by its next
   * script; this process's sleeping waiters are re-timed. Redis keys are not visited: a key refills
   * the time since its last request at the new limits (a key idle long enough to be full is alike
   * either way). Limits travel with each call: other processes keep theirs until they change them.
   * Limits are matched by position; one with no counterpart before starts at its `initialTokens`.
   * A promise like every Redis kind's `setLimits`, resolved at once: no key is visited.
   */
  async setLimits(update: LimitsUpdate | { limitsFor: LimitsFor }): Promise<void> {
    const current = (key: string): readonly Readonly<Limit>[] => this.limitsOf(key);
    if (update !== null && typeof update === 'object' && 'limitsFor' in update && update.limitsFor !== undefined) {
      if (this.#limitsFor === undefined) throw new TypeError('setLimits({ limitsFor }) needs a RedisKeyedTokenBucket made with limitsFor (give this one { capacity, fillRate } or { limits })');
      const limitsFor = check.limitsForOption(update);
      const old = this.#limitsFor;
      this.#limitsFor = limitsFor;
      this.#retime((key) => this.#checkedTier(key, old).limits, current);
      return;
    }
    const limits = checkedLimits(check.limitsUpdate(update));
    if (this.#limitsFor !== undefined) {
      const old = this.#limitsFor;
      this.#limitsFor = () => limits.limits;
      this.#retime((key) => this.#checkedTier(key, old).limits, current);
      return;
    }
    const old = this.limits;
    this.#limitArgs = limits.args;
    replaceField<RedisKeyedTokenBucket, 'limits'>(this, 'limits', limits.limits);
    replaceField<RedisKeyedTokenBucket, 'capacity'>(this, 'capacity', limits.capacity);
    replaceField<RedisKeyedTokenBucket, 'fillRate'>(this, 'fillRate', limits.fillRate);
    this.#retime(() => old, current);
  }

  /** This process's sleepers, each re-timed from its key's old limits to its new ones. */
  #retime(old: (key: string) => readonly Readonly<Limit>[], current: (key: string) => readonly Readonly<Limit>[]): void {
    const start = this.prefix.length;
    this.#limiter.retime((redisKey) => {
      const key = redisKey.slice(start);
      return slowdown(old(key).map((l) => l.fillRate), current(key).map((l) => l.fillRate));
    }, (redisKey) => this.#target(redisKey.slice(start)));
  }

  /** The limits of `key`'s bucket: the same for every key, or with `limitsFor`, what it gives `key`. */
  limitsOf(key: string): readonly Readonly<Limit>[] {
    if (typeof key !== 'string') throw new TypeError(`key must be a string, got ${check.show(key)}`);
    return this.#limitsFor === undefined ? this.limits : this.#checkedTier(key, this.#limitsFor).limits;
  }

  #checkedTier(key: string, limitsFor: LimitsFor): CheckedLimits {
    const value = limitsFor(key);
    if (typeof value === 'object' && value !== null) {
      const known = this.#tiers.get(value);
      if (known !== undefined) return known;
    }
    const tier = checkedLimits(check.tierLimits(key, value));
    if (typeof value === 'object' && value !== null) this.#tiers.set(value, tier);
    return tier;
  }

  /**
   * Resolves `true` after taking `n` tokens (default 1) from `key`'s bucket, or `false` having
   * taken nothing: at once without `block`; with `block`, after waiting, or at once if the wait
   * would exceed `maxWait` ms. `n > capacity`: `false`, or `RangeError` with `block`.
   */
  consume(key: string, n = 1, options?: AsyncConsumeOptions): Promise<boolean> {
    try {
      const taken = this.#limiter.consume(this.#target(key), n, options, this.#onFailure(key), this.#waiting);
      return decisionChannel.hasSubscribers ? watchDecision(this, key, n, taken, isTrue) : taken;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Takes `n` tokens (default 1) from `key`'s bucket if it has them, without waiting, and resolves
   * the whole decision: whether they were taken, what each limit holds after it, how long until
   * the same request could pass and until the bucket is full. One script call, gathered with the
   * other calls of the tick. `n` above capacity is a refused decision with `retryAfter: Infinity`.
   */
  take(key: string, n = 1): Promise<Decision> {
    try {
      const decided = this.#limiter.take(this.#target(key), n, this.#onFailure(key));
      return decisionChannel.hasSubscribers ? watchDecision(this, key, n, decided, isAllowed) : decided;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Waits until `n` tokens of `key`'s bucket are taken. Rejects with `RateLimitExceeded` when the
   * wait would exceed `maxWait` (`maxWait: 0` reports `retryAfter` without waiting), with
   * `signal.reason` on abort (its reservation goes back), `RangeError` if `n > capacity`.
   */
  acquire(key: string, n = 1, options?: AcquireOptions): Promise<void> {
    try {
      const waited = this.#limiter.acquire(this.#target(key), n, options, this.#onFailure(key), this.#waiting);
      return decisionChannel.hasSubscribers ? watchWait(this, key, n, realClock, waited) : waited;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Takes `n` tokens (default 1) from `key`'s bucket at once, even if that leaves it below 0: the
   * key is refused until time has paid the debt back (a penalty for abuse). One atomic script;
   * rejects with a `RedisBucketError` when Redis fails, whatever `onRedisError` says.
   */
  penalize(key: string, n = 1): Promise<void> {
    try {
      return this.#limiter.adjust(this.#target(key), n, -1);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Gives `n` tokens (default 1) to `key`'s bucket, never above capacity. One atomic script. */
  reward(key: string, n = 1): Promise<void> {
    try {
      return this.#limiter.adjust(this.#target(key), n, 1);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Callers of this process waiting in `acquire` now, over every key (what `maxWaiting` bounds). */
  get waiting(): number {
    return this.#waiting.count;
  }

  /** Milliseconds until `key`'s bucket would have `n` tokens (0 if now, `Infinity` if never). */
  timeUntil(key: string, n = 1): Promise<number> {
    try {
      return this.#limiter.timeUntil(this.#target(key), n);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Tokens in `key`'s bucket now (the lowest level); `initialTokens` for a key Redis does not hold. */
  tokens(key: string): Promise<number> {
    try {
      return this.#limiter.tokens(this.#target(key));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Deletes `key`'s bucket in Redis, so its next request starts a new one at `initialTokens` (an
   * operator's reset: waiters that already reserved tokens in the old bucket, in any process,
   * still get them). Resolves `true` if Redis held the key. Redis errors reject with
   * `RedisBucketError` whatever `onRedisError` says: a reset that did not happen is not hidden.
   */
  delete(key: string): Promise<boolean> {
    try {
      const target = this.#target(key);
      return this.#limiter.run(target, () => this.#client.del(target.keys[0]!), (n) => n === 1);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #target(key: string): RedisTarget {
    if (typeof key !== 'string') throw new TypeError(`key must be a string, got ${check.show(key)}`);
    if (this.#limitsFor === undefined) return new KeyTarget([this.prefix + key], this.#limitArgs, this.capacity, this.limits);
    const tier = this.#checkedTier(key, this.#limitsFor);
    return new KeyTarget([this.prefix + key], tier.args, tier.capacity, tier.limits);
  }

}

markKind(RedisKeyedTokenBucket, 'keyed');

/** A tiered limiter's read-outs: no one set of limits. */
const TIERED: CheckedLimits = { limits: Object.freeze([]), capacity: NaN, fillRate: NaN, args: [], startsBelowCapacity: false };

/** One client key's target; its name for errors is made only when an error needs it. */
class KeyTarget implements RedisTarget {
  constructor(
    readonly keys: readonly [string],
    readonly limitArgs: readonly string[],
    readonly capacity: number,
    readonly limits: readonly Readonly<Limit>[],
  ) {}

  get what(): string {
    return `RedisKeyedTokenBucket key ${JSON.stringify(this.keys[0])}`;
  }
}
