export { RedisTokenBucket, type RedisTokenBucketOptions } from './redis/redis-token-bucket.js';
export {
  createRedisBucketHierarchy,
  type RedisBucketHierarchyConfig,
  type RedisHierarchicalTokenBucket,
} from './redis/redis-hierarchy.js';
export { RedisKeyedTokenBucket, type RedisKeyedTokenBucketOptions, type RedisTieredOptions } from './redis/redis-keyed.js';
export type { RedisLimitOptions, RedisConnectionOptions } from './redis/options.js';
export type { SupportedRedisClient } from './redis/client.js';
export type { RedisFailurePolicy } from './redis/failure-policy.js';
export type { CircuitBreakerOptions } from './redis/circuit.js';
export type { RedisErrorEvent, FallbackEvent, CircuitEvent } from './events.js';
export type { AsyncConsumeOptions, AcquireOptions, Decision, LimitDecision, LimitsUpdate, LimitsFor } from './types.js';
export { RedisBucketError } from './redis/redis-call.js';
export { RateLimitExceeded } from './errors.js';
export {
  RedisSemaphore,
  LeaseExpired,
  type RedisSemaphoreOptions,
  type RedisLease,
} from './redis/redis-semaphore.js';
export type { RedisSemaphoreFailurePolicy } from './redis/failure-policy.js';
