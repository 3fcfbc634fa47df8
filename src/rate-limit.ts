import { AsyncTokenBucket } from './buckets/async-token-bucket.js';
import { neverFits } from './errors.js';
import { kindOf } from './kinds.js';
import type { AcquirableBucket } from './types.js';
import * as check from './validate.js';

/** Options of {@link rateLimit}. */
export interface RateLimitOptions {
  /** Refill rate in tokens per second (creates a private bucket). Not with `bucket`. */
  tokensPerSecond?: number;
  /** Burst size of the private bucket. Default `max(1, tokensPerSecond)`. Not with `bucket`. */
  capacity?: number;
  /** Tokens each call costs. Default 1. */
  tokens?: number;
  /** Wait for tokens (default `true`); `false` refuses at once with {@link RateLimitExceeded}. */
  block?: boolean;
  /** Longest wait in ms before a call is refused with {@link RateLimitExceeded}. Default `Infinity`. */
  maxWait?: number;
  /** A bucket to share between functions: local, async, hierarchical or Redis. */
  bucket?: AcquirableBucket;
}

/** A function limited by {@link rateLimit}: same `this` and parameters, always async. */
export type RateLimited<This, Args extends unknown[], R> = (this: This, ...args: Args) => Promise<Awaited<R>>;

/** What {@link rateLimit} returns: wraps a function, or decorates a class method (TC39 decorators). */
export interface RateLimitDecorator {
  <This, Args extends unknown[], R>(
    fn: (this: This, ...args: Args) => R,
    context?: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => R>,
  ): RateLimited<This, Args, R>;
}

const KEYS = ['tokensPerSecond', 'capacity', 'tokens', 'block', 'maxWait', 'bucket'] as const;

/**
 * Limits how often a function runs. Each call waits for `tokens` tokens (or, with
 * `block: false`, is refused at once when they are missing), then calls the function with the
 * caller's `this` and arguments; errors from the function pass through unchanged.
 *
 * @example
 * const fetchUser = rateLimit({ tokensPerSecond: 5 })(async (id: string) => api.get(id));
 *
 * class Client {
 *   @rateLimit({ tokensPerSecond: 2 })
 *   async call() {}
 * }
 */
export function rateLimit(options: RateLimitOptions): RateLimitDecorator {
  const o = check.options<RateLimitOptions>('rateLimit options', options);
  if (options === undefined) throw new TypeError('rateLimit needs options: { tokensPerSecond } or { bucket }');
  check.knownKeys('rateLimit options', o, KEYS);
  const tokens = o.tokens === undefined ? 1 : check.tokens(o.tokens, 'tokens');
  const block = check.boolean('block', o.block, true);
  const maxWait = block ? (o.maxWait === undefined ? Infinity : check.duration('maxWait', o.maxWait)) : 0;
  let makeBucket: () => AcquirableBucket;
  if (o.bucket !== undefined) {
    if (o.tokensPerSecond !== undefined || o.capacity !== undefined) {
      throw new TypeError('rateLimit: pass either bucket or tokensPerSecond/capacity, not both');
    }
    const bucket = o.bucket;
    if (typeof bucket !== 'object' || bucket === null || typeof bucket.acquire !== 'function') {
      throw new TypeError('rateLimit: bucket must be a bucket of this library (an object with acquire())');
    }
    if (kindOf(bucket) === 'keyed') {
      throw new TypeError('rateLimit: bucket must be a single bucket, not a keyed limiter (its acquire takes a key first); wrap it yourself: (...args) => keyed.acquire(keyOf(...args)).then(() => fn(...args))');
    }
    if (tokens > bucket.capacity) throw neverFits(tokens, bucket.capacity, 'capacity (tokens per call)');
    makeBucket = () => bucket;
  } else {
    if (o.tokensPerSecond === undefined) throw new TypeError('rateLimit: tokensPerSecond is required (or pass a bucket)');
    const fillRate = check.nonNegative('tokensPerSecond', o.tokensPerSecond);
    const capacity = o.capacity === undefined ? Math.max(1, fillRate) : check.positive('capacity', o.capacity);
    if (tokens > capacity) throw neverFits(tokens, capacity, 'capacity (tokens per call)');
    makeBucket = () => new AsyncTokenBucket({ capacity, fillRate });
  }
  const waitOptions = { maxWait };

  return function decorate<This, Args extends unknown[], R>(
    fn: (this: This, ...args: Args) => R,
    context?: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => R>,
  ): RateLimited<This, Args, R> {
    if (typeof fn !== 'function') throw new TypeError('rateLimit(...) must be applied to a function');
    if (context !== undefined && (context as { kind?: unknown }).kind !== 'method') {
      throw new TypeError(`@rateLimit decorates methods, not a ${String((context as { kind?: unknown }).kind)}`);
    }
    // One bucket per wrapped function: a decorated method's bucket is shared by all instances.
    const bucket = makeBucket();
    const limited = async function (this: This, ...args: Args): Promise<Awaited<R>> {
      await bucket.acquire(tokens, waitOptions);
      return await fn.apply(this, args);
    };
    Object.defineProperty(limited, 'name', { value: fn.name, configurable: true });
    return limited;
  };
}

/** The same function as {@link rateLimit}, under the name the async entry uses. */
export const asyncRateLimit = rateLimit;
