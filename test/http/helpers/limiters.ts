// The limiters the HTTP tests run against: the library's own KeyedTokenBucket and TokenBucket on a
// ManualClock, so a test moves time instead of sleeping.

import { KeyedTokenBucket, ManualClock, TokenBucket, type Limit } from 'bucketflow';

/** A KeyedTokenBucket (one limit) on `clock`. */
export function keyedLimiter(limit: Limit, clock: ManualClock): KeyedTokenBucket {
  return new KeyedTokenBucket({ ...limit, clock });
}

/** A TokenBucket (one limit) on `clock`. */
export function singleLimiter(limit: Limit, clock: ManualClock): TokenBucket {
  return new TokenBucket({ ...limit, clock });
}
