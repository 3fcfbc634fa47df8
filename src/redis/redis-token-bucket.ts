import { markKind } from '../kinds.js';
import { lockChangeable, lockFields, replaceField } from '../readonly.js';
import * as check from '../validate.js';
import { checkCircuitBreaker } from './circuit.js';
import { checkFailurePolicy } from './failure-policy.js';
import {
  checkClient,
  checkKeyName,
  checkLimitOptions,
  checkedLimits,
  checkTimeout,
  type RedisConnectionOptions,
  type RedisLimitOptions,
} from './options.js';
import { RedisBucket, retarget, settleOwn, targetsOf } from './redis-bucket.js';
import { RedisLimiter } from './redis-limiter.js';
import type { RedisTarget } from './target.js';
import type { Limit, LimitsUpdate } from '../types.js';

/** Options of {@link RedisTokenBucket}. */
export type RedisTokenBucketOptions = RedisLimitOptions & RedisConnectionOptions & {
  /** The Redis key holding the bucket's state, used as given (add any prefix or `{hash tag}` yourself). */
  key: string;
};

const KEYS = ['redis', 'key', 'capacity', 'fillRate', 'initialTokens', 'limits', 'timeout', 'onRedisError', 'circuitBreaker', 'maxWaiting'] as const;

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
export class RedisTokenBucket extends RedisBucket {
  /** The Redis key of this bucket. */
  readonly key: string;
  /** The limits this bucket enforces, as configured. */
  readonly limits: readonly Readonly<Limit>[];
  /** Milliseconds Redis has to answer a call. */
  readonly timeout: number;

  constructor(options: RedisTokenBucketOptions) {
    const o = check.required<RedisTokenBucketOptions>(options, KEYS, '{ redis, key, capacity, fillRate }');
    const client = checkClient(o.redis);
    const key = checkKeyName('key', o.key, 'the Redis key of the bucket');
    const limits = checkLimitOptions(o);
    const timeout = checkTimeout(o.timeout);
    const onFailure = checkFailurePolicy(o.onRedisError, 'single', timeout);
    const target: RedisTarget = { keys: [key], limitArgs: limits.args, capacity: limits.capacity, limits: limits.limits, what: `RedisTokenBucket ${JSON.stringify(key)}` };
    const limiter = new RedisLimiter(client, timeout, checkCircuitBreaker(o.circuitBreaker));
    super({
      capacity: limits.capacity,
      fillRate: limits.fillRate,
      limiter,
      chain: target,
      own: target,
      onFailure,
      startsBelowCapacity: limits.startsBelowCapacity,
      maxWaiting: check.maxWaiting(o.maxWaiting),
    });
    limiter.owner = this;
    this.key = key;
    this.limits = limits.limits;
    this.timeout = timeout;
    lockFields<RedisTokenBucket>(this, ['key', 'timeout']);
    lockChangeable<RedisTokenBucket>(this, ['limits']);
  }

  /**
   * Changes the limits this process sends from now on (Go's `SetLimit`/`SetBurst` meaning): the
   * key is first refilled to now at the old limits (one script call, best effort), then every call
   * carries the new ones; a level above a new capacity is cut by the next script, and this
   * process's sleeping waiters are re-timed. Limits travel with each call: other processes keep
   * theirs until they change them too. Limits are matched by position; one with no counterpart
   * before starts at its `initialTokens`.
   */
  async setLimits(update: LimitsUpdate): Promise<void> {
    const limits = checkedLimits(check.limitsUpdate(update));
    await settleOwn(this);
    const target: RedisTarget = { ...targetsOf(this).own, limitArgs: limits.args, capacity: limits.capacity, limits: limits.limits };
    retarget([{ bucket: this, chain: target, own: target }]);
    replaceField<RedisTokenBucket, 'limits'>(this, 'limits', limits.limits);
  }
}

markKind(RedisTokenBucket, 'single');
