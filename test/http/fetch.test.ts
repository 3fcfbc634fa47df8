// fetch-style handlers: the shared cases, then what is theirs: no client address (a keyed limiter
// needs `key`), the runtime's extra arguments passed through, and the handler's own response.

import { ManualClock } from 'bucketflow';
import { fetchRateLimit } from 'bucketflow/http';
import { describe, expect, it } from 'vitest';
import { runAdapterCases } from './helpers/cases.js';
import { keyedLimiter, singleLimiter } from './helpers/limiters.js';
import { fetchDriver } from './helpers/servers.js';

runAdapterCases(fetchDriver);

describe('fetch: handlers', () => {
  const ok = () => new Response('ok');

  it('a keyed limiter without key is a TypeError at creation; so is a handler that is not a function', () => {
    const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, new ManualClock());
    expect(() => fetchRateLimit(ok, { limiter })).toThrow(/fetchRateLimit: key is required with a keyed limiter: a fetch handler sees no client address/);
    expect(() => fetchRateLimit('nope' as never, { limiter })).toThrow(/fetchRateLimit: handler must be a function/);
    expect(() => fetchRateLimit(ok, { limiter, key: 'x' as never })).toThrow(/fetchRateLimit: key must be a function, got "x"/);
    expect(() => fetchRateLimit(ok, { limiter: singleLimiter({ capacity: 1, fillRate: 1 }, new ManualClock()) })).not.toThrow();
  });

  it("the runtime's extra arguments reach the handler and the user's functions (Deno's connection info, say)", async () => {
    const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, new ManualClock());
    type Info = { remoteAddr: { hostname: string } };
    const handler = fetchRateLimit((_request: Request, info: Info) => new Response(info.remoteAddr.hostname), {
      limiter,
      key: (_request, info) => info.remoteAddr.hostname,
    });
    const info = { remoteAddr: { hostname: '192.0.2.7' } };
    const res = await handler(new Request('http://x/'), info);
    expect(await res.text()).toBe('192.0.2.7');
    expect((await handler(new Request('http://x/'), info)).status).toBe(429);
    expect(limiter.tokens('192.0.2.7')).toBe(0);
  });

  it("headers are added to the handler's response, copied first if its headers are immutable, its own kept", async () => {
    const limiter = keyedLimiter({ capacity: 5, fillRate: 1 }, new ManualClock());
    const redirect = fetchRateLimit(() => Response.redirect('http://example.com/', 301), { limiter, key: () => 'k' });
    const res = await redirect(new Request('http://x/'));
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('http://example.com/');
    expect(res.headers.get('ratelimit')).toBe('"default";r=4;t=1');
    const own = fetchRateLimit(() => new Response('x', { headers: { RateLimit: '"upstream";r=1' } }), { limiter, key: () => 'k' });
    expect((await own(new Request('http://x/'))).headers.get('ratelimit')).toBe('"upstream";r=1');
  });

  it('errors of the handler pass through unchanged', async () => {
    const limiter = keyedLimiter({ capacity: 5, fillRate: 1 }, new ManualClock());
    const boom = new Error('handler failed');
    const handler = fetchRateLimit(() => { throw boom; }, { limiter, key: () => 'k' });
    await expect(handler(new Request('http://x/'))).rejects.toBe(boom);
  });
});
