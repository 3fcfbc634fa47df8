// Express 4/5 and Connect-style middleware. Typed against Node's own request and response, so
// neither express nor @types/express is needed to use it, and Express's types fit it.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Decision } from '../types.js';
import { GONE, RequestLimiter, SKIPPED, isPromise, type Outcome, type RateLimitCommonOptions } from './core.js';
import { checkSubnet, groupAddress } from './keys.js';
import { clientGone } from './node-connection.js';

/** The request as Express hands it over: Node's, plus the client address Express works out. */
export interface ExpressLikeRequest extends IncomingMessage {
  /** The client's address (Express: from `trust proxy` and `X-Forwarded-For`). */
  ip?: string | undefined;
}

/** Options of {@link expressRateLimit}. */
export interface ExpressRateLimitOptions<Req extends IncomingMessage = ExpressLikeRequest, Res extends ServerResponse = ServerResponse>
  extends RateLimitCommonOptions<Req> {
  /**
   * Answers a refused request instead of the default `429 Too Many Requests` (the rate-limit
   * headers and `Retry-After` are already set on `res`). It must send a response, or start one,
   * before it returns (or its promise settles); otherwise the default one is sent.
   */
  onLimited?: (req: Req, res: Res, decision: Decision) => unknown;
  /** Prefix length (bits) that groups IPv6 clients under one key (default 64). */
  ipv6Subnet?: number;
}

/**
 * Rate-limiting middleware for Express 4/5 and Connect-style servers: `(req, res, next)`.
 * The default key is the client's address: Express's `req.ip` (which honours `trust proxy`),
 * else the socket's address; IPv6 addresses are grouped by /64.
 *
 * @example
 * app.use(expressRateLimit({ limiter: new KeyedTokenBucket({ capacity: 10, fillRate: 1 }) }));
 */
export function expressRateLimit<Req extends IncomingMessage = ExpressLikeRequest, Res extends ServerResponse = ServerResponse>(
  options: ExpressRateLimitOptions<Req, Res>,
): (req: Req, res: Res, next: (error?: unknown) => void) => void {
  const subnet = checkSubnet(options?.ipv6Subnet ?? 64, 'expressRateLimit: ipv6Subnet');
  const limiter = new RequestLimiter<Req>(options, {
    name: 'expressRateLimit',
    defaultKey: (req) => groupAddress(addressOf(req), subnet),
    extraKeys: ['onLimited', 'ipv6Subnet'],
  });
  const onLimited = options.onLimited;
  if (onLimited !== undefined && typeof onLimited !== 'function') throw new TypeError('expressRateLimit: onLimited must be a function');

  return function rateLimitMiddleware(req, res, next) {
    const answer = (outcome: Outcome): void => {
      if (outcome === GONE) return; // the client hung up while waiting: nobody to answer
      if (outcome === SKIPPED) return next();
      if (!res.headersSent) limiter.writeHeaders(outcome.decision, (name, value) => res.setHeader(name, value));
      if (outcome.allowed) return next();
      refuse(req, res, outcome.decision, next);
    };
    let outcome: Outcome | Promise<Outcome>;
    try {
      outcome = limiter.decide(req, undefined, () => clientGone(req, res));
    } catch (error) {
      return next(error);
    }
    if (isPromise(outcome)) outcome.then(answer).catch(next);
    else answer(outcome);
  };

  function refuse(req: Req, res: Res, decision: Decision, next: (error?: unknown) => void): void {
    if (onLimited === undefined) return tooManyRequests(res);
    let answered: unknown;
    try {
      answered = onLimited(req, res, decision);
    } catch (error) {
      return next(error);
    }
    if (isPromise(answered)) answered.then(() => tooManyRequests(res), next);
    else tooManyRequests(res);
  }
}

/** The default refusal, unless something already answered. */
function tooManyRequests(res: ServerResponse): void {
  if (res.headersSent || res.writableEnded) return;
  res.statusCode = 429;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.end('Too Many Requests');
}

function addressOf(req: ExpressLikeRequest): string {
  const address = req.ip ?? req.socket?.remoteAddress;
  if (typeof address !== 'string') {
    throw new TypeError('expressRateLimit: the client address is unknown (the connection is gone, or the server is not a Node http server); pass key: (req) => string');
  }
  return address;
}

