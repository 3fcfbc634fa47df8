export { AsyncTokenBucket } from './buckets/async-token-bucket.js';
export { asyncRateLimit } from './rate-limit.js';
export { RateLimitExceeded } from './errors.js';
export type { TokenBucketOptions, AcquireOptions, AsyncConsumeOptions } from './types.js';
