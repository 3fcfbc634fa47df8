/**
 * Thrown (or rejected with) when a call is refused: a non-waiting request found too few
 * tokens, or the wait it would need is longer than the caller's `maxWait`.
 */
export class RateLimitExceeded extends Error {
  /** Milliseconds until the same request could succeed; `Infinity` if it never can. */
  readonly retryAfter: number;

  constructor(retryAfter: number, message?: string) {
    super(message ?? RateLimitExceeded.describe(retryAfter));
    this.name = 'RateLimitExceeded';
    this.retryAfter = retryAfter;
  }

  private static describe(retryAfter: number): string {
    if (retryAfter === Infinity) return 'rate limit exceeded: the bucket will never have enough tokens';
    return `rate limit exceeded: retry after ${Math.ceil(retryAfter)} ms`;
  }
}

/** `n` above a capacity: the request can never be served (a programming error, not a refusal). */
export function neverFits(n: number, capacity: number, what = 'capacity'): RangeError {
  return new RangeError(`n (${n}) exceeds the bucket's ${what} (${capacity}): the request can never be served`);
}

/**
 * A request that would wait `wait` ms (within its `maxWait`) while `maxWaiting` callers already
 * wait: refused at once, so a flood of waiters cannot grow without bound.
 */
export function tooManyWaiting(wait: number, maxWaiting: number): RateLimitExceeded {
  return new RateLimitExceeded(wait, `rate limit exceeded: ${maxWaiting} callers already wait (maxWaiting); retry after ${Math.ceil(wait)} ms`);
}

/**
 * How a reservation made with `maxWait` (or 0 once the queue is full: a request may still be served
 * now) is answered: at once, refused, or queued (`undefined`).
 */
export function refusalOf(wait: number, maxWait: number, full: boolean, maxWaiting: number): RateLimitExceeded | undefined {
  if (wait === Infinity || wait > maxWait) return new RateLimitExceeded(wait);
  return full ? tooManyWaiting(wait, maxWaiting) : undefined;
}

/** A synchronous blocking wait on a ManualClock: nothing could advance it while the thread sleeps. */
export function manualClockSleep(): TypeError {
  return new TypeError('consume({ block: true }) would sleep forever on a ManualClock (nothing advances it while the thread sleeps); use acquire() instead');
}

/**
 * A waiting `consume` is an `acquire` answered as a boolean: `true` once taken, `false` when
 * refused (`RateLimitExceeded`); any other error passes through.
 */
export function asConsumed(acquired: Promise<void>): Promise<boolean> {
  return acquired.then(returnTrue, falseIfRefused);
}

const returnTrue = (): boolean => true;
const falseIfRefused = (error: unknown): boolean => {
  if (error instanceof RateLimitExceeded) return false;
  throw error;
};

/**
 * The answer a waiting request gets before it is looked at: its signal's reason if it is already
 * aborted, at once if it asks for nothing (zero tokens are always there, even while waiters are
 * owed); `undefined` otherwise.
 */
export function answeredAtOnce(n: number, signal: AbortSignal | undefined): Promise<void> | undefined {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (n === 0) return Promise.resolve();
  return undefined;
}
