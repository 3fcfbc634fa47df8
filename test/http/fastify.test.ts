// Fastify 5: the shared cases, then what is Fastify's own: encapsulation (a plugin registered in a
// child context limits that context only), per-route config, `trustProxy`, and the plugin
// metadata Fastify reads (the same as fastify-plugin would set).

import { ManualClock } from 'bucketflow';
import { fastifyRateLimit } from 'bucketflow/http';
import Fastify, { type FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { afterEach, describe, expect, it } from 'vitest';
import { runAdapterCases } from './helpers/cases.js';
import { keyedLimiter } from './helpers/limiters.js';
import { fastifyDriver } from './helpers/servers.js';

runAdapterCases(fastifyDriver);

describe('fastify: encapsulation, routes, proxies', () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function serve(build: (a: FastifyInstance) => void | Promise<void>, options: { trustProxy?: boolean } = {}) {
    const a = Fastify(options);
    app = a;
    await build(a);
    await a.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(a.server.address() as { port: number }).port}`;
    return async (path: string, headers: Record<string, string> = {}) => (await fetch(`${url}${path}`, { headers })).status;
  }

  it('registered at the root, it limits every route; a route opts out with config.rateLimit: false', async () => {
    const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, new ManualClock());
    const get = await serve(async (a) => {
      await a.register(fastifyRateLimit, { limiter });
      a.get('/a', async () => 'a');
      a.get('/free', { config: { rateLimit: false } }, async () => 'free');
      a.register(async (child) => void child.get('/child', async () => 'child'));
    });
    expect(await get('/a')).toBe(200);
    expect(await get('/child')).toBe(429);
    expect(await get('/a')).toBe(429);
    expect(await get('/free')).toBe(200);
    expect(await get('/free')).toBe(200);
  });

  it('registered in a child context, it limits only that context', async () => {
    const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, new ManualClock());
    const get = await serve(async (a) => {
      a.get('/open', async () => 'open');
      await a.register(async (child) => {
        await child.register(fastifyRateLimit, { limiter });
        child.get('/limited', async () => 'limited');
      });
      a.register(async (sibling) => void sibling.get('/sibling', async () => 'sibling'));
    });
    expect(await get('/limited')).toBe(200);
    expect(await get('/limited')).toBe(429);
    for (let i = 0; i < 3; i++) {
      expect(await get('/open')).toBe(200);
      expect(await get('/sibling')).toBe(200);
    }
  });

  it('config.rateLimit.cost sets what a request of the route costs', async () => {
    const limiter = keyedLimiter({ capacity: 4, fillRate: 1 }, new ManualClock());
    const get = await serve(async (a) => {
      await a.register(fastifyRateLimit, { limiter });
      a.get('/cheap', async () => 'cheap');
      a.get('/search', { config: { rateLimit: { cost: 3 } } }, async () => 'search');
      a.get('/by-header', { config: { rateLimit: { cost: (r) => Number(r.headers['x-cost']) } } }, async () => 'x');
    });
    expect(await get('/search')).toBe(200);
    expect(await get('/search')).toBe(429);
    expect(await get('/cheap')).toBe(200);
    expect(await get('/by-header', { 'x-cost': '1' })).toBe(429);
  });

  it('a bad config.rateLimit fails when the route is added, naming the route', async () => {
    const limiter = keyedLimiter({ capacity: 4, fillRate: 1 }, new ManualClock());
    app = Fastify();
    await app.register(fastifyRateLimit, { limiter });
    expect(() => app!.get('/x', { config: { rateLimit: { cost: 5 } } }, async () => 'x')).toThrow(/fastifyRateLimit: route GET \/x: config.rateLimit.cost must be at most the limiter's capacity \(4\), got 5/);
    expect(() => app!.get('/y', { config: { rateLimit: { costs: 1 } as never } }, async () => 'y')).toThrow(/route GET \/y: config.rateLimit has an unknown option "costs"/);
  });

  it('bad plugin options make register() reject with a message naming the option', async () => {
    app = Fastify();
    await expect(app.register(fastifyRateLimit, { limiter: keyedLimiter({ capacity: 1, fillRate: 1 }, new ManualClock()), maxWait: -5 })).rejects.toThrow(/fastifyRateLimit: maxWait must be a number of milliseconds >= 0, got -5/);
  });

  it("the default key is request.ip: forwarded addresses count only with Fastify's trustProxy", async () => {
    for (const [trustProxy, expected] of [[false, [200, 429]], [true, [200, 200]]] as const) {
      const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, new ManualClock());
      const get = await serve(async (a) => {
        await a.register(fastifyRateLimit, { limiter });
        a.get('/', async () => 'ok');
      }, { trustProxy });
      const statuses = [await get('/', { 'x-forwarded-for': '2001:db8:0:1::1' }), await get('/', { 'x-forwarded-for': '2001:db8:0:2::1' })];
      expect(statuses).toEqual(expected);
      if (trustProxy) expect(limiter.tokens('2001:db8:0:1::/64')).toBe(0);
      await app!.close();
      app = undefined;
    }
  });

  it('onLimited may return the payload; the status is 429 unless it sets another', async () => {
    const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, new ManualClock());
    app = Fastify();
    await app.register(fastifyRateLimit, { limiter, onLimited: async (_request, _reply, decision) => ({ slowDown: decision.retryAfter }) });
    app.get('/', async () => 'ok');
    await app.ready();
    await app.inject('/');
    const res = await app.inject('/');
    expect(res.statusCode).toBe(429);
    expect(res.json()).toEqual({ slowDown: 1000 });
    expect(res.headers['retry-after']).toBe('1');
  });

  it("carries the plugin metadata fastify-plugin would give it, without loading fastify-plugin", () => {
    const reference = fp(function plugin() {}, { name: 'bucketflow-rate-limit', fastify: '5.x' });
    for (const symbol of ['skip-override', 'fastify.display-name', 'plugin-meta']) {
      const s = Symbol.for(symbol);
      expect((fastifyRateLimit as unknown as Record<symbol, unknown>)[s]).toEqual((reference as unknown as Record<symbol, unknown>)[s]);
    }
  });
});
