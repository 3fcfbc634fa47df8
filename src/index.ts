export { TokenBucket } from './token-bucket.js';
export { AsyncTokenBucket } from './async-token-bucket.js';
export {
  HierarchicalTokenBucket,
  createBucketHierarchy,
  type HierarchicalTokenBucketOptions,
  type BucketHierarchyConfig,
  type BucketHierarchyNode,
  type BucketHierarchyNames,
} from './hierarchical.js';
export { rateLimit, type RateLimitOptions, type RateLimitDecorator, type RateLimited } from './rate-limit.js';
export { RateLimitExceeded } from './errors.js';
export { ManualClock, type Clock } from './clock.js';
export type {
  Limit,
  TokenBucketOptions,
  ConsumeOptions,
  AsyncConsumeOptions,
  AcquireOptions,
  AcquirableBucket,
  KeyedAcquirable,
} from './types.js';
export { KeyedTokenBucket, type KeyedTokenBucketOptions } from './keyed.js';
export {
  SharedTokenBucket,
  threadSharedClock,
  type SharedTokenBucketOptions,
  type SharedTokenBucketAttachOptions,
} from './shared-bucket.js';
