// Web-standard handlers, `(request, ...rest) => Response`: Next.js route handlers, Bun, Deno,
// Cloudflare Workers. No Node built-in is loaded: only Request, Response and AbortSignal.

import type { Decision } from '../types.js';
import * as check from '../validate.js';
import { GONE, RequestLimiter, SKIPPED, type HttpLimiter, type RateLimitCommonOptions } from './core.js';
import { refusal, requestGone, withHeaders } from './fetch-response.js';

/** A fetch-style handler: a Request (and whatever else the runtime passes) in, a Response out. */
export type FetchHandler<Rest extends unknown[] = []> = (request: Request, ...rest: Rest) => Response | Promise<Response>;

/**
 * Options of {@link fetchRateLimit}. `key`, `cost` and `skip` receive the request and whatever
 * else the runtime passes the handler (Deno's connection info, a worker's `env`, Next.js's route
 * context).
 */
export interface FetchRateLimitOptions<Rest extends unknown[] = []> extends Omit<RateLimitCommonOptions<Request>, 'key' | 'cost' | 'skip'> {
  limiter: HttpLimiter;
  /** The client's key (a string, or a promise of one); required with a keyed limiter. Longer than 256 characters: hashed. */
  key?: (request: Request, ...rest: Rest) => string | Promise<string>;
  /** Tokens per request: a number (default 1) or a function of the request. */
  cost?: number | ((request: Request, ...rest: Rest) => number | Promise<number>);
  /** Returns true (or a promise of true) for requests that pass untouched. */
  skip?: (request: Request, ...rest: Rest) => boolean | Promise<boolean>;
  /**
   * Answers a refused request instead of the default `429 Too Many Requests`. The rate-limit
   * headers and `Retry-After` are added to the response it returns unless it set them itself.
   */
  onLimited?: (request: Request, decision: Decision) => Response | Promise<Response>;
}

/** A call of the wrapped handler: the request and the rest of its arguments. */
type Call<Rest extends unknown[]> = readonly [Request, ...Rest];

/**
 * Wraps a fetch-style handler with a rate limit: the handler's response gets the rate-limit
 * headers, and a refused request gets a 429 without the handler being called. Errors of the
 * limiter (or of `key`, `cost`, `skip`, `onLimited`) reject the returned promise, as an error of
 * the handler would.
 *
 * @example
 * export const GET = fetchRateLimit(handler, { limiter, key: (request) => request.headers.get('x-api-key') ?? 'anonymous' });
 */
export function fetchRateLimit<Rest extends unknown[] = []>(
  handler: FetchHandler<Rest>,
  options: FetchRateLimitOptions<Rest>,
): (request: Request, ...rest: Rest) => Promise<Response> {
  if (typeof handler !== 'function') throw new TypeError(`fetchRateLimit: handler must be a function (request) => Response, got ${check.show(handler)}`);
  const o = check.options<FetchRateLimitOptions<Rest>>('fetchRateLimit options', options);
  const onLimited = o.onLimited;
  if (onLimited !== undefined && typeof onLimited !== 'function') throw new TypeError('fetchRateLimit: onLimited must be a function');
  // The user's functions take the request and the rest of the arguments; the core takes one value.
  const spread = <R>(name: string, f: ((request: Request, ...rest: Rest) => R) | undefined) => {
    if (f === undefined) return undefined;
    if (typeof f !== 'function') throw new TypeError(`fetchRateLimit: ${name} must be a function, got ${check.show(f)}`);
    return (call: Call<Rest>): R => f(...call);
  };
  const cost = o.cost;
  const limiter = new RequestLimiter<Call<Rest>>(options === undefined ? undefined : {
    ...o,
    key: spread('key', o.key),
    cost: typeof cost === 'function' ? spread('cost', cost) : cost,
    skip: spread('skip', o.skip),
  }, {
    name: 'fetchRateLimit',
    keyHint: 'a fetch handler sees no client address; pass key: (request) => string (an API key, a user id, or the address your runtime or proxy reports)',
    extraKeys: ['onLimited'],
  });

  return async function rateLimited(request: Request, ...rest: Rest): Promise<Response> {
    const outcome = await limiter.decide([request, ...rest], undefined, () => requestGone(request));
    if (outcome === SKIPPED) return handler(request, ...rest);
    if (outcome === GONE) return new Response(null, { status: 499 });
    if (outcome.allowed) return withHeaders(await handler(request, ...rest), limiter, outcome.decision);
    return withHeaders(onLimited === undefined ? refusal() : await onLimited(request, outcome.decision), limiter, outcome.decision);
  };
}
