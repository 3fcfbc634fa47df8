export { TokenBucket } from './buckets/token-bucket.js';
export { AsyncTokenBucket } from './buckets/async-token-bucket.js';
export {
  HierarchicalTokenBucket,
  createBucketHierarchy,
  type HierarchicalTokenBucketOptions,
  type BucketHierarchyConfig,
  type BucketHierarchyNode,
  type BucketHierarchyNames,
} from './buckets/hierarchical.js';
export { rateLimit, type RateLimitOptions, type RateLimitDecorator, type RateLimited } from './rate-limit.js';
export { Semaphore, type SemaphoreOptions, type Lease } from './semaphore.js';
export { RateLimitExceeded } from './errors.js';
export { ManualClock, type Clock } from './clock.js';
export type { DecisionEvent, RedisErrorEvent, FallbackEvent, CircuitEvent } from './events.js';
export type {
  Limit,
  LimitsUpdate,
  LimitsFor,
  TokenBucketOptions,
  ConsumeOptions,
  AsyncConsumeOptions,
  AcquireOptions,
  AcquirableBucket,
  KeyedAcquirable,
  ConcurrencyLimiter,
  Decision,
  LimitDecision,
} from './types.js';
export { KeyedTokenBucket, type KeyedTokenBucketOptions, type TieredOptions } from './buckets/keyed.js';
export { SharedTokenBucket, type SharedTokenBucketOptions, type SharedTokenBucketAttachOptions } from './buckets/shared-bucket.js';
export { threadSharedClock } from './buckets/shared-clock.js';
