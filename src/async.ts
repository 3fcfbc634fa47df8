export { AsyncTokenBucket, type AsyncConsumeOptions } from './async-token-bucket.js';
export { asyncRateLimit } from './rate-limit.js';
export type { TokenBucketOptions, AcquireOptions } from './local-bucket.js';
