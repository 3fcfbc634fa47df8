export {
  RedisTokenBucket,
  type RedisTokenBucketOptions,
  type RedisLimitOptions,
  type RedisConnectionOptions,
} from './redis/redis-token-bucket.js';
export {
  createRedisBucketHierarchy,
  type RedisBucketHierarchyConfig,
  type RedisHierarchicalTokenBucket,
} from './redis/redis-hierarchy.js';
export { RedisKeyedTokenBucket, type RedisKeyedTokenBucketOptions } from './redis/redis-keyed.js';
export { RedisBucketError } from './redis/redis-call.js';
export type { RedisFailurePolicy, RedisConsumeOptions } from './redis/redis-limiter.js';
export { RateLimitExceeded } from './errors.js';
