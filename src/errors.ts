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
