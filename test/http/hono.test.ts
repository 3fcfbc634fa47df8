// Hono: the shared cases, then what is Hono's own: no client address (a keyed limiter needs
// `key`), the context handed to the user's functions, and responses with immutable headers.

import { ManualClock } from 'bucketflow';
import { honoRateLimit, ipKey } from 'bucketflow/http';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { runAdapterCases } from './helpers/cases.js';
import { keyedLimiter, singleLimiter } from './helpers/limiters.js';
import { honoDriver } from './helpers/servers.js';

runAdapterCases(honoDriver);

describe('hono: keys and responses', () => {
  it('a keyed limiter without key is a TypeError at creation; a single bucket needs none', () => {
    const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, new ManualClock());
    expect(() => honoRateLimit({ limiter })).toThrow(TypeError);
    expect(() => honoRateLimit({ limiter })).toThrow(/honoRateLimit: key is required with a keyed limiter: Hono reports no client address/);
    expect(() => honoRateLimit({ limiter: singleLimiter({ capacity: 1, fillRate: 1 }, new ManualClock()) })).not.toThrow();
  });

  it('key receives the context: variables set by earlier middleware can name the client', async () => {
    const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, new ManualClock());
    type AppEnv = { Variables: { user: string } };
    const app = new Hono<AppEnv>();
    app.use('*', async (c, next) => {
      c.set('user', c.req.header('authorization') ?? 'anonymous');
      await next();
    });
    app.use('*', honoRateLimit<AppEnv>({ limiter, key: (c) => `user:${c.get('user')}` }));
    app.get('/', (c) => c.text('ok'));
    expect((await app.request('/', { headers: { authorization: 'alice' } })).status).toBe(200);
    expect((await app.request('/', { headers: { authorization: 'alice' } })).status).toBe(429);
    expect((await app.request('/', { headers: { authorization: 'bob' } })).status).toBe(200);
    expect(limiter.tokens('user:alice')).toBe(0);
  });

  it('headers reach a response the handler built itself, even one with immutable headers', async () => {
    const limiter = keyedLimiter({ capacity: 5, fillRate: 1 }, new ManualClock());
    const app = new Hono();
    app.use('*', honoRateLimit({ limiter, key: () => ipKey('2001:db8::1') }));
    app.get('/raw', () => new Response('raw', { headers: { 'x-own': '1' } }));
    app.get('/redirect', () => Response.redirect('http://example.com/', 302));
    for (const path of ['/raw', '/redirect']) {
      const res = await app.request(path);
      expect(res.headers.get('ratelimit')).toMatch(/^"default";r=\d;t=\d$/);
    }
    expect((await app.request('/raw')).headers.get('x-own')).toBe('1');
    expect(limiter.tokens('2001:db8::/64')).toBe(2);
  });

  it('onLimited returns the response; headers it set itself are kept', async () => {
    const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, new ManualClock());
    const app = new Hono();
    app.use('*', honoRateLimit({ limiter, key: () => 'k', onLimited: (c, d) => c.json({ retryInMs: d.retryAfter }, 429, { 'Retry-After': '60' }) }));
    app.get('/', (c) => c.text('ok'));
    await app.request('/');
    const res = await app.request('/');
    expect(res.status).toBe(429);
    expect(await res.json()).toEqual({ retryInMs: 1000 });
    expect(res.headers.get('retry-after')).toBe('60');
    expect(res.headers.get('ratelimit-policy')).toBe('"default";q=1;w=1');
  });
});
