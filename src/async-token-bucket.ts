import { RateLimitExceeded } from './errors.js';
import { LocalBucket, acquireOptions, takeNow, type AcquireOptions } from './local-bucket.js';
import * as check from './validate.js';

/** Options of {@link AsyncTokenBucket.consume}. */
export interface AsyncConsumeOptions extends AcquireOptions {
  /** Wait (without blocking the event loop) until the tokens are there. Default `false`. */
  block?: boolean;
}

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
      const { signal } = acquireOptions(waitOptions);
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (!block) return Promise.resolve(n <= this.capacity && takeNow(this, n));
      return this.acquire(n, waitOptions).then(returnTrue, falseIfRefused);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

const returnTrue = (): boolean => true;
const falseIfRefused = (error: unknown): boolean => {
  if (error instanceof RateLimitExceeded) return false;
  throw error;
};
