import { AsyncTokenBucket } from './buckets/async-token-bucket.js';
import { neverFits } from './errors.js';
import { kindOf } from './kinds.js';
import { Semaphore, checkLimit } from './semaphore.js';
import type { AcquirableBucket, ConcurrencyLimiter } from './types.js';
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
  /**
   * How many calls may run at once: a number (a private `Semaphore` per wrapped function), or a
   * `Semaphore` / `RedisSemaphore` to share. Alone, or on top of the rate: a call first waits for
   * a slot, then for its tokens, all within `maxWait`.
   */
  concurrency?: number | ConcurrencyLimiter;
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

const KEYS = ['tokensPerSecond', 'capacity', 'tokens', 'block', 'maxWait', 'bucket', 'concurrency'] as const;

/**
 * Limits how often a function runs, and/or how many of its calls run at once. Each call waits for
 * a slot (with `concurrency`) and for `tokens` tokens (with a rate), or, with `block: false`, is
 * refused at once when either is missing; then calls the function with the caller's `this` and
 * arguments. Errors from the function pass through unchanged.
 *
 * @example
 * const fetchUser = rateLimit({ tokensPerSecond: 5 })(async (id: string) => api.get(id));
 * const render = rateLimit({ concurrency: 4 })(async (page: string) => browser.render(page));
 *
 * class Client {
 *   @rateLimit({ tokensPerSecond: 2 })
 *   async call() {}
 * }
 */
export function rateLimit(options: RateLimitOptions): RateLimitDecorator {
  const o = check.options<RateLimitOptions>('rateLimit options', options);
  if (options === undefined) throw new TypeError('rateLimit needs options: { tokensPerSecond }, { bucket } or { concurrency }');
  check.knownKeys('rateLimit options', o, KEYS);
  const tokens = o.tokens === undefined ? 1 : check.tokens(o.tokens, 'tokens');
  const block = check.boolean('block', o.block, true);
  const maxWait = block ? (o.maxWait === undefined ? Infinity : check.duration('maxWait', o.maxWait)) : 0;
  const makeSlots = concurrencyOf(o.concurrency);
  let makeBucket: () => AcquirableBucket | undefined;
  if (o.bucket !== undefined) {
    if (o.tokensPerSecond !== undefined || o.capacity !== undefined) {
      throw new TypeError('rateLimit: pass either bucket or tokensPerSecond/capacity, not both');
    }
    const bucket = o.bucket;
    if (typeof bucket !== 'object' || bucket === null || typeof bucket.acquire !== 'function') {
      throw new TypeError('rateLimit: bucket must be a bucket of this library (an object with acquire())');
    }
    if (kindOf(bucket) === 'semaphore') {
      throw new TypeError('rateLimit: bucket must be a bucket, not a semaphore: pass a Semaphore or RedisSemaphore as concurrency');
    }
    if (kindOf(bucket) === 'keyed') {
      throw new TypeError('rateLimit: bucket must be a single bucket, not a keyed limiter (its acquire takes a key first); wrap it yourself: (...args) => keyed.acquire(keyOf(...args)).then(() => fn(...args))');
    }
    if (tokens > bucket.capacity) throw neverFits(tokens, bucket.capacity, 'capacity (tokens per call)');
    makeBucket = () => bucket;
  } else if (o.tokensPerSecond === undefined) {
    if (o.capacity !== undefined) throw new TypeError('rateLimit: capacity needs tokensPerSecond');
    if (makeSlots === undefined) throw new TypeError('rateLimit: tokensPerSecond is required (or pass a bucket, or concurrency)');
    makeBucket = () => undefined;
  } else {
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
    // One bucket (and semaphore) per wrapped function: a decorated method's is shared by all instances.
    const bucket = makeBucket();
    const slots = makeSlots?.();
    let limited: RateLimited<This, Args, R>;
    if (slots === undefined) {
      limited = async function (this: This, ...args: Args): Promise<Awaited<R>> {
        await bucket!.acquire(tokens, waitOptions);
        return await fn.apply(this, args);
      };
    } else {
      // The slot first, then the tokens: a call holds its slot while it waits for them, so calls
      // start no faster than the rate. Tokens taken while waiting for a slot would let calls
      // queued behind a slow one start in a burst when it ends.
      limited = function (this: This, ...args: Args): Promise<Awaited<R>> {
        const started = performance.now();
        return slots.run(async () => {
          if (bucket !== undefined) {
            const maxWait = waitOptions.maxWait - (performance.now() - started);
            await bucket.acquire(tokens, { maxWait: Math.max(0, maxWait) });
          }
          return await fn.apply(this, args);
        }, waitOptions);
      };
    }
    Object.defineProperty(limited, 'name', { value: fn.name, configurable: true });
    return limited;
  };
}

/** Checks the `concurrency` option: how to make the semaphore of each wrapped function, if any. */
function concurrencyOf(value: unknown): (() => ConcurrencyLimiter) | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') {
    const limit = checkLimit(value, 'concurrency');
    return () => new Semaphore({ limit });
  }
  if (kindOf(value) !== 'semaphore') {
    throw new TypeError(`rateLimit: concurrency must be a number (calls at once) or a Semaphore / RedisSemaphore to share, got ${check.show(value)}`);
  }
  const shared = value as ConcurrencyLimiter;
  return () => shared;
}

/** The same function as {@link rateLimit}, under the name the async entry uses. */
export const asyncRateLimit = rateLimit;
