export { AsyncTokenBucket } from './buckets/async-token-bucket.js';
export { asyncRateLimit } from './rate-limit.js';
export type { TokenBucketOptions, AcquireOptions, AsyncConsumeOptions } from './types.js';
