export { expressRateLimit, type ExpressRateLimitOptions, type ExpressLikeRequest } from './http/express.js';
export { fastifyRateLimit, type FastifyRateLimitOptions, type FastifyRouteRateLimit } from './http/fastify.js';
export { honoRateLimit, type HonoRateLimitOptions } from './http/hono.js';
export { fetchRateLimit, type FetchRateLimitOptions, type FetchHandler } from './http/fetch.js';
export {
  rateLimitHeaders,
  type RateLimitHeadersMode,
  type RateLimitHeadersOptions,
  type RateLimitHeaderMap,
} from './http/headers.js';
export { ipKey } from './http/keys.js';
export type { HttpLimiter, KeyedLimiter, SingleLimiter, RateLimitCommonOptions, RequestCost } from './http/core.js';
export type { Decision, LimitDecision } from './types.js';
export { RateLimitExceeded } from './errors.js';
// A Redis limiter's error that its failure policy lets through reaches the framework's error handler:
// that handler can tell it apart without importing bucketflow/redis.
export { RedisBucketError } from './redis/redis-call.js';
