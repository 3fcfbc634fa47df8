// Express (and Connect-style servers): the shared cases, then what is Express's own: the client
// address as the default key (through Express's `trust proxy`, never a header on its own), IPv6
// grouping over a real ::1 connection, and options errors at creation.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ManualClock } from 'bucketflow';
import { expressRateLimit } from 'bucketflow/http';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { runAdapterCases } from './helpers/cases.js';
import { keyedLimiter } from './helpers/limiters.js';
import { expressDriver, listen, type Running } from './helpers/servers.js';

runAdapterCases(expressDriver);

describe('express: keys, proxies and options', () => {
  let running: Running | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  /** An app limited to `capacity` requests per client, returning the key the limiter saw. */
  async function app(setup: (a: express.Express) => void, capacity = 1, host?: string) {
    const limiter = keyedLimiter({ capacity, fillRate: 1 }, new ManualClock());
    const keys: string[] = [];
    const spy = Object.create(limiter, { take: { value: (k: string, n?: number) => (keys.push(k), limiter.take(k, n)) } }) as typeof limiter;
    const a = express();
    setup(a);
    a.use(expressRateLimit({ limiter: spy }));
    a.get('/', (_req, res) => void res.send('ok'));
    running = await listen(createServer(a), host);
    const get = async (headers: Record<string, string> = {}) => (await fetch(`${running!.url}/`, { headers })).status;
    return { get, keys };
  }

  it('the default key is the client address: X-Forwarded-For is ignored unless trust proxy says otherwise', async () => {
    const { get, keys } = await app(() => {});
    expect(await get({ 'x-forwarded-for': '203.0.113.1' })).toBe(200);
    expect(await get({ 'x-forwarded-for': '203.0.113.2' })).toBe(429);
    expect(keys).toEqual(['127.0.0.1', '127.0.0.1']);
  });

  it("behind a trusted proxy ('trust proxy'), each forwarded client has a budget of its own", async () => {
    const { get, keys } = await app((a) => a.set('trust proxy', 'loopback'));
    expect(await get({ 'x-forwarded-for': '203.0.113.1' })).toBe(200);
    expect(await get({ 'x-forwarded-for': '203.0.113.1' })).toBe(429);
    expect(await get({ 'x-forwarded-for': '203.0.113.2' })).toBe(200);
    // The address the trusted proxy saw is the client, not what the client claims before it.
    expect(await get({ 'x-forwarded-for': '198.51.100.7, 203.0.113.3' })).toBe(200);
    expect(keys).toEqual(['203.0.113.1', '203.0.113.1', '203.0.113.2', '203.0.113.3']);
  });

  it('IPv6 clients are grouped by /64, and IPv4-mapped addresses are IPv4', async () => {
    const { get, keys } = await app((a) => a.set('trust proxy', 'loopback'));
    expect(await get({ 'x-forwarded-for': '2001:db8:0:1::1' })).toBe(200);
    expect(await get({ 'x-forwarded-for': '2001:db8:0:1::2' })).toBe(429); // same /64
    expect(await get({ 'x-forwarded-for': '2001:db8:0:2::1' })).toBe(200);
    expect(await get({ 'x-forwarded-for': '::ffff:203.0.113.9' })).toBe(200);
    expect(keys).toEqual(['2001:db8:0:1::/64', '2001:db8:0:1::/64', '2001:db8:0:2::/64', '203.0.113.9']);
  });

  it('a real IPv6 client (::1) is limited as its /64', async () => {
    let ok = true;
    const probe = createServer();
    await new Promise<void>((resolve) => probe.once('error', () => { ok = false; resolve(); }).listen(0, '::1', () => resolve()));
    probe.close();
    if (!ok) return; // no IPv6 loopback on this machine
    const { get, keys } = await app(() => {}, 1, '::1');
    expect(await get()).toBe(200);
    expect(await get()).toBe(429);
    expect(keys).toEqual(['::/64', '::/64']);
  });

  it('on a Connect-style server (no req.ip) the key is the socket address', async () => {
    const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, new ManualClock());
    const mw = expressRateLimit({ limiter });
    running = await listen(createServer((req: IncomingMessage, res: ServerResponse) => mw(req, res, (err) => {
      res.statusCode = err ? 500 : 200;
      res.end();
    })));
    expect((await fetch(running.url)).status).toBe(200);
    expect((await fetch(running.url)).status).toBe(429);
    expect(limiter.tokens('127.0.0.1')).toBeLessThan(1);
  });

  it('onLimited that does not answer leaves the default 429; one that fails goes to next(err)', async () => {
    const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, new ManualClock());
    const a = express();
    a.get('/quiet', expressRateLimit({ limiter, onLimited: () => {} }), (_req, res) => void res.send('ok'));
    a.get('/fails', expressRateLimit({ limiter, onLimited: async () => { throw new Error('onLimited broke'); } }), (_req, res) => void res.send('ok'));
    a.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.status(500).send(err.message));
    running = await listen(createServer(a));
    await fetch(`${running.url}/quiet`);
    const quiet = await fetch(`${running.url}/quiet`);
    expect([quiet.status, await quiet.text()]).toEqual([429, 'Too Many Requests']);
    const fails = await fetch(`${running.url}/fails`);
    expect([fails.status, await fails.text()]).toEqual([500, 'onLimited broke']);
  });

  it('option errors are thrown at creation and name the option', () => {
    const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, new ManualClock());
    expect(() => expressRateLimit({ limiter, ipv6Subnet: 200 })).toThrow(/expressRateLimit: ipv6Subnet must be an integer from 1 to 128, got 200/);
    expect(() => expressRateLimit({ limiter, onLimited: 'no' as never })).toThrow(/expressRateLimit: onLimited must be a function/);
    expect(() => expressRateLimit(undefined as never)).toThrow(/expressRateLimit needs options/);
    expect(() => expressRateLimit({ limiter: {} as never })).toThrow(/expressRateLimit: limiter must be a bucket of this library/);
  });
});
