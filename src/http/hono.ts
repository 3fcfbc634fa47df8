// Hono middleware. Hono runs on many runtimes and reports no client address of its own, so a keyed
// limiter needs a `key` function (on Node, `getConnInfo(c).remote.address` from
// @hono/node-server/conninfo, through `ipKey()` to group IPv6 clients).

import type { Context, Env, MiddlewareHandler } from 'hono';
import type { Decision } from '../types.js';
import { GONE, RequestLimiter, SKIPPED, type RateLimitCommonOptions } from './core.js';
import { refusal, requestGone, withHeaders } from './fetch-response.js';

/** Options of {@link honoRateLimit}: `key`, `cost` and `skip` receive Hono's context. */
export interface HonoRateLimitOptions<E extends Env = Env> extends RateLimitCommonOptions<Context<E>> {
  /**
   * Answers a refused request instead of the default `429 Too Many Requests`. The rate-limit
   * headers and `Retry-After` are added to the response it returns unless it set them itself.
   */
  onLimited?: (c: Context<E>, decision: Decision) => Response | Promise<Response>;
}

/**
 * Rate-limiting middleware for Hono. Errors of the limiter (or of `key`, `cost`, `skip`) are
 * thrown, so Hono's `onError` answers them. A request waiting for tokens (`maxWait`) is dropped
 * when `c.req.raw.signal` fires (the client disconnected).
 *
 * @example
 * app.use('*', honoRateLimit({ limiter, key: (c) => c.req.header('x-api-key') ?? 'anonymous' }));
 */
export function honoRateLimit<E extends Env = Env>(options: HonoRateLimitOptions<E>): MiddlewareHandler<E> {
  const limiter = new RequestLimiter<Context<E>>(options, {
    name: 'honoRateLimit',
    keyHint: 'Hono reports no client address; pass key: (c) => string (an API key, a user id, or on Node ipKey(getConnInfo(c).remote.address))',
    extraKeys: ['onLimited'],
  });
  const onLimited = options.onLimited;
  if (onLimited !== undefined && typeof onLimited !== 'function') throw new TypeError('honoRateLimit: onLimited must be a function');

  return async function rateLimitMiddleware(c, next) {
    const outcome = await limiter.decide(c, undefined, () => requestGone(c.req.raw));
    if (outcome === SKIPPED) return next();
    if (outcome === GONE) return new Response(null, { status: 499 });
    if (outcome.allowed) {
      await next();
      // After the handler (or onError) has made the response: c.header() then copies it if its
      // headers are immutable.
      limiter.writeHeaders(outcome.decision, (name, value) => c.header(name, value));
      return;
    }
    const response = onLimited === undefined ? refusal() : await onLimited(c, outcome.decision);
    return withHeaders(response, limiter, outcome.decision);
  };
}
