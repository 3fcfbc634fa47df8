// The Fastify 5 plugin: one onRequest hook in the context the plugin is registered in.
//
// A plugin registered in a context gets a new child context unless it carries Fastify's
// `skip-override` mark; then its hooks belong to the context that registered it, so registering
// it at the root limits every route and registering it inside a plugin limits that plugin's
// routes only. The `fastify-plugin` helper sets exactly these marks (`skip-override`, the
// display name and the `plugin-meta` that Fastify checks the version range of). They are set
// here by hand, with the symbols Fastify itself reads, so that importing `bucketflow/http`
// needs neither fastify nor fastify-plugin installed.

import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Decision } from '../types.js';
import * as check from '../validate.js';
import { GONE, RequestLimiter, SKIPPED, checkCost, isPromise, type Outcome, type RateLimitCommonOptions, type RequestCost } from './core.js';
import { ceilSeconds } from './headers.js';
import { checkSubnet, groupAddress } from './keys.js';
import { clientGone } from './node-connection.js';

/** Options of {@link fastifyRateLimit}. */
export interface FastifyRateLimitOptions extends RateLimitCommonOptions<FastifyRequest> {
  /**
   * Answers a refused request instead of the default 429 (whose body is Fastify's error shape).
   * The status is already 429 and the rate-limit headers and `Retry-After` are set on `reply`;
   * it may send the reply itself, or return (or resolve) the payload to send.
   */
  onLimited?: (request: FastifyRequest, reply: FastifyReply, decision: Decision) => unknown;
  /** Prefix length (bits) that groups IPv6 clients under one key (default 64). */
  ipv6Subnet?: number;
}

/** A route's own setting, `config: { rateLimit: … }`: `false` exempts the route; `cost` overrides the plugin's. */
export interface FastifyRouteRateLimit {
  /** Tokens a request of this route costs: a number or a function of the request. */
  cost?: RequestCost<FastifyRequest>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** bucketflow's rate limit of this route: `false` exempts it, `{ cost }` sets what a request costs. */
    rateLimit?: false | FastifyRouteRateLimit;
  }
}

// Options Fastify's register() itself reads; they reach the plugin too and are not ours to check.
const REGISTER_KEYS = ['prefix', 'logLevel', 'logSerializers'];

function plugin(fastify: FastifyInstance, options: FastifyRateLimitOptions, done: (err?: Error) => void): void {
  let limiter: RequestLimiter<FastifyRequest>;
  let onLimited: FastifyRateLimitOptions['onLimited'];
  try {
    const subnet = checkSubnet(options?.ipv6Subnet ?? 64, 'fastifyRateLimit: ipv6Subnet');
    limiter = new RequestLimiter<FastifyRequest>(options, {
      name: 'fastifyRateLimit',
      // request.ip honours Fastify's own trustProxy setting.
      defaultKey: (request) => groupAddress(addressOf(request), subnet),
      extraKeys: ['onLimited', 'ipv6Subnet', ...REGISTER_KEYS],
    });
    onLimited = options.onLimited;
    if (onLimited !== undefined && typeof onLimited !== 'function') throw new TypeError('fastifyRateLimit: onLimited must be a function');
  } catch (error) {
    return done(error as Error);
  }
  const capacity = options.limiter.capacity;

  // A route's config.rateLimit is checked as the route is added, so a typo fails at startup.
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const own: unknown = route.config?.rateLimit;
    if (own === undefined || own === false) return;
    const where = `fastifyRateLimit: route ${String(route.method)} ${route.url}: config.rateLimit`;
    const o = check.options<FastifyRouteRateLimit>(where, own);
    check.knownKeys(where, o, ['cost']);
    if (o.cost !== undefined) checkCost(`${where}.cost`, o.cost, capacity);
  });

  fastify.addHook('onRequest', function rateLimitHook(request, reply, next) {
    const own = request.routeOptions.config?.rateLimit;
    if (own === false) return next();
    const answer = (outcome: Outcome): void => {
      if (outcome === GONE) return; // the client hung up while waiting: nobody to answer
      if (outcome === SKIPPED) return next();
      limiter.writeHeaders(outcome.decision, (name, value) => void reply.header(name, value));
      if (outcome.allowed) return next();
      refuse(request, reply, outcome.decision, next);
    };
    let outcome: Outcome | Promise<Outcome>;
    try {
      outcome = limiter.decide(request, own?.cost, () => clientGone(request.raw, reply.raw));
    } catch (error) {
      return next(asError(error));
    }
    if (isPromise(outcome)) outcome.then(answer).catch((error: unknown) => next(asError(error)));
    else answer(outcome);
  });

  function refuse(request: FastifyRequest, reply: FastifyReply, decision: Decision, next: (err?: Error) => void): void {
    reply.code(429);
    const send = (payload: unknown): void => {
      if (reply.sent) return;
      reply.send(payload === undefined ? tooManyRequests(decision) : payload);
    };
    if (onLimited === undefined) return send(undefined);
    let answered: unknown;
    try {
      answered = onLimited(request, reply, decision);
    } catch (error) {
      return next(asError(error));
    }
    if (isPromise(answered)) answered.then(send, (error: unknown) => next(asError(error)));
    else send(answered);
  }

  done();
}

/** Fastify's own error shape, as its 4xx replies have it. */
function tooManyRequests(decision: Decision): { statusCode: number; error: string; message: string } {
  const message = decision.retryAfter === Infinity
    ? 'Rate limit exceeded: this request can never pass'
    : `Rate limit exceeded, retry in ${ceilSeconds(decision.retryAfter)} s`;
  return { statusCode: 429, error: 'Too Many Requests', message };
}

/** Fastify's error handling expects an Error; anything else thrown is wrapped in one. */
function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(`non-Error thrown: ${check.show(error)}`, { cause: error });
}

function addressOf(request: FastifyRequest): string {
  const address = request.ip;
  if (typeof address !== 'string') {
    throw new TypeError('fastifyRateLimit: the client address is unknown (the connection is gone); pass key: (request) => string');
  }
  return address;
}

const NAME = 'bucketflow-rate-limit';
Object.defineProperties(plugin, {
  [Symbol.for('skip-override')]: { value: true },
  [Symbol.for('fastify.display-name')]: { value: NAME },
  [Symbol.for('plugin-meta')]: { value: { name: NAME, fastify: '5.x' } },
});

/**
 * The Fastify 5 rate-limit plugin. Registered at the root it limits every route; registered inside
 * a plugin, only that plugin's routes. A route opts out with `config: { rateLimit: false }`, or
 * sets its own cost with `config: { rateLimit: { cost } }`. The default key is `request.ip`
 * (which honours Fastify's `trustProxy`), IPv6 grouped by /64.
 *
 * @example
 * await app.register(fastifyRateLimit, { limiter: new KeyedTokenBucket({ capacity: 10, fillRate: 1 }) });
 */
export const fastifyRateLimit: FastifyPluginCallback<FastifyRateLimitOptions> = plugin;
