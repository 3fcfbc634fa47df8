import { asConsumed } from '../errors.js';
import type { AsyncConsumeOptions, Decision } from '../types.js';
import { decisionChannel, publishDecision } from '../events.js';
import * as check from '../validate.js';
import { LocalBucket, decideNow, takeNow } from './local-bucket.js';

/**
 * A promise-based token bucket. Waiters are served first come, first served with one timer
 * for the head of the queue however many wait; an `AbortSignal` cancels a wait and gives its
 * tokens back.
 */
export class AsyncTokenBucket extends LocalBucket {
  /**
   * Resolves `true` after taking `n` tokens, or `false` having taken nothing: at once without
   * `block`; with `block`, after waiting, or at once if the wait would exceed `maxWait` ms.
   * Rejects with `signal.reason` on abort, `RangeError` for `n > capacity` with `block`.
   */
  consume(n = 1, options?: AsyncConsumeOptions): Promise<boolean> {
    try {
      check.tokens(n);
      const o = check.options<AsyncConsumeOptions>('options', options);
      const { block = false, ...waitOptions } = o;
      check.boolean('block', block, false);
      const { signal } = check.acquireOptions(waitOptions);
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (block) return asConsumed(this.acquire(n, waitOptions)); // acquire publishes its decision
      const taken = n <= this.capacity && takeNow(this, n);
      if (decisionChannel.hasSubscribers) publishDecision(this, undefined, n, taken);
      return Promise.resolve(taken);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Resolves the whole non-waiting decision, as `TokenBucket.take`: whether `n` tokens (default
   * 1) were taken, what each limit holds after it, and the waits. Rejects `RangeError` for a bad `n`.
   */
  take(n = 1): Promise<Decision> {
    try {
      check.tokens(n);
      const decision = decideNow(this, n);
      if (decisionChannel.hasSubscribers) publishDecision(this, undefined, n, decision.allowed);
      return Promise.resolve(decision);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

