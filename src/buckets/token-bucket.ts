import { decisionChannel, publishDecision } from '../events.js';
import type { ConsumeOptions, Decision } from '../types.js';
import * as check from '../validate.js';
import { sleepSync } from '../waiting/sleep.js';
import { LocalBucket, decideNow, takeBlocking, takeNow } from './local-bucket.js';

/**
 * A synchronous in-memory token bucket: holds up to `capacity` tokens and refills at
 * `fillRate` tokens per second. Starts full unless `initialTokens` says otherwise.
 *
 * @example
 * const bucket = new TokenBucket({ capacity: 10, fillRate: 5 });
 * if (bucket.consume()) handle(); else reject();
 */
export class TokenBucket extends LocalBucket {
  /**
   * Takes `n` tokens (default 1) and returns `true`, or takes nothing and returns `false`.
   *
   * With `block: true` it waits until the tokens are there, **blocking the thread** (no CPU is
   * burned, but nothing else in this thread runs: prefer `acquire()` in servers). It returns
   * `false` at once, taking nothing, if the wait would exceed `maxWait` ms or can never end
   * (`fillRate` 0). `n > capacity` returns `false`, or throws `RangeError` with `block`.
   */
  consume(n = 1, options?: ConsumeOptions): boolean {
    if (decisionChannel.hasSubscribers) return watched(this, n, options);
    return consume(this, n, options);
  }

  /**
   * Takes `n` tokens (default 1) if every limit has them now, without waiting, and returns the
   * whole decision: whether they were taken, what each limit holds after it, how long until the
   * same request could pass and until every limit is full again. `n > capacity` is a refused
   * decision with `retryAfter: Infinity`.
   */
  take(n = 1): Decision {
    check.tokens(n);
    const decision = decideNow(this, n);
    if (decisionChannel.hasSubscribers) publishDecision(this, undefined, n, decision.allowed);
    return decision;
  }
}

/** `consume` of a TokenBucket, the hot path: as small as it can be, so that it inlines. */
function consume(bucket: TokenBucket, n: number, options: ConsumeOptions | undefined): boolean {
  if (typeof n !== 'number' || !(n >= 0) || n === Infinity) check.tokens(n);
  if (options === undefined) return n <= bucket.capacity && takeNow(bucket, n);
  const { block, maxWait } = check.consumeOptions(options);
  if (!block) return n <= bucket.capacity && takeNow(bucket, n);
  return takeBlocking(bucket, n, maxWait, sleepSync);
}

/** `consume` while someone listens for decisions. */
function watched(bucket: TokenBucket, n: number, options: ConsumeOptions | undefined): boolean {
  const taken = consume(bucket, n, options);
  publishDecision(bucket, undefined, n, taken);
  return taken;
}
