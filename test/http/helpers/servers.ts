// One real server per adapter, on 127.0.0.1 and a free port, built the same way so the shared
// cases (cases.ts) run against each: GET / answers 200 "ok", GET /health too, and the framework's
// own error handling answers every error with 500 "handled: <message>".

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { expressRateLimit, fastifyRateLimit, fetchRateLimit, honoRateLimit, type HttpLimiter, type RateLimitHeadersMode } from 'bucketflow/http';

/** What a case asks of the server's rate limit; each driver says it in its framework's terms. */
export interface Setup {
  limiter: HttpLimiter;
  /** Key from the `x-key` request header (required where the framework has no client address). */
  keyFromHeader?: boolean;
  /** Cost from the `x-cost` request header (default 1 when absent). */
  costFromHeader?: boolean;
  /** Skip requests to /health. */
  skipHealth?: boolean;
  maxWait?: number;
  maxWaiting?: number;
  maxWaitingTotal?: number;
  headers?: RateLimitHeadersMode;
  policyNames?: readonly string[];
  /** Answer refusals with 503 "custom" instead of the default. */
  customRefusal?: boolean;
  /** Node's maxHeaderSize for this server (the default 16 KiB refuses large headers itself). */
  maxHeaderSize?: number;
}

export interface Running {
  readonly url: string;
  close(): Promise<void>;
}

export interface Driver {
  readonly name: string;
  start(setup: Setup): Promise<Running>;
}

const header = (value: string | string[] | undefined | null): string | undefined => (Array.isArray(value) ? value[0] : value ?? undefined);
const costOf = (value: string | undefined): number => (value === undefined ? 1 : Number(value));

/** Starts `server` on 127.0.0.1 (or `host`) and a free port. */
export async function listen(server: Server, host = '127.0.0.1'): Promise<Running> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export const expressDriver: Driver = {
  name: 'express',
  async start(s) {
    const app = express();
    app.use(expressRateLimit({
      limiter: s.limiter,
      ...(s.keyFromHeader ? { key: (req) => header(req.headers['x-key']) ?? 'none' } : {}),
      ...(s.costFromHeader ? { cost: (req) => costOf(header(req.headers['x-cost'])) } : {}),
      ...(s.skipHealth ? { skip: (req) => req.url === '/health' } : {}),
      ...(s.customRefusal ? { onLimited: (_req, res) => void res.status(503).send('custom') } : {}),
      ...options(s),
    }));
    app.get('/', (_req, res) => void res.send('ok'));
    app.get('/health', (_req, res) => void res.send('ok'));
    app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.status(500).send(`handled: ${err.message}`));
    return listen(createServer({ maxHeaderSize: s.maxHeaderSize }, app));
  },
};

export const fastifyDriver: Driver = {
  name: 'fastify',
  async start(s) {
    const app = Fastify(s.maxHeaderSize ? { http: { maxHeaderSize: s.maxHeaderSize } } : {});
    await app.register(fastifyRateLimit, {
      limiter: s.limiter,
      ...(s.keyFromHeader ? { key: (request) => header(request.headers['x-key']) ?? 'none' } : {}),
      ...(s.costFromHeader ? { cost: (request) => costOf(header(request.headers['x-cost'])) } : {}),
      ...(s.skipHealth ? { skip: (request) => request.url === '/health' } : {}),
      ...(s.customRefusal ? { onLimited: (_request, reply) => void reply.code(503).send('custom') } : {}),
      ...options(s),
    });
    app.get('/', async () => 'ok');
    app.get('/health', async () => 'ok');
    app.setErrorHandler((err: Error, _request, reply) => void reply.code(500).send(`handled: ${err.message}`));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      close: async () => {
        app.server.closeAllConnections();
        await app.close();
      },
    };
  },
};

export const honoDriver: Driver = {
  name: 'hono',
  async start(s) {
    const app = new Hono();
    app.use('*', honoRateLimit({
      limiter: s.limiter,
      ...(s.keyFromHeader ? { key: (c) => c.req.header('x-key') ?? 'none' } : {}),
      ...(s.costFromHeader ? { cost: (c) => costOf(c.req.header('x-cost')) } : {}),
      ...(s.skipHealth ? { skip: (c) => c.req.path === '/health' } : {}),
      ...(s.customRefusal ? { onLimited: (c) => c.text('custom', 503) } : {}),
      ...options(s),
    }));
    app.get('/', (c) => c.text('ok'));
    app.get('/health', (c) => c.text('ok'));
    app.onError((err, c) => c.text(`handled: ${err.message}`, 500));
    return serveFetch(app.fetch, s.maxHeaderSize);
  },
};

export const fetchDriver: Driver = {
  name: 'fetch',
  async start(s) {
    const handler = (request: Request): Response => new Response('ok');
    const limited = fetchRateLimit(handler, {
      limiter: s.limiter,
      ...(s.keyFromHeader ? { key: (request: Request) => request.headers.get('x-key') ?? 'none' } : {}),
      ...(s.costFromHeader ? { cost: (request: Request) => costOf(request.headers.get('x-cost') ?? undefined) } : {}),
      ...(s.skipHealth ? { skip: (request: Request) => new URL(request.url).pathname === '/health' } : {}),
      ...(s.customRefusal ? { onLimited: () => new Response('custom', { status: 503 }) } : {}),
      ...options(s),
    });
    // The runtime's own error handling, as Next.js or a worker has it: a rejected handler answers 500.
    const fetch = (request: Request): Promise<Response> => limited(request).catch((err: Error) => new Response(`handled: ${err.message}`, { status: 500 }));
    return serveFetch(fetch, s.maxHeaderSize);
  },
};

function options(s: Setup) {
  const { maxWait, maxWaiting, maxWaitingTotal, headers, policyNames } = s;
  return Object.fromEntries(Object.entries({ maxWait, maxWaiting, maxWaitingTotal, headers, policyNames }).filter(([, v]) => v !== undefined));
}

/** A fetch-style handler behind @hono/node-server (which aborts `request.signal` when the client goes). */
async function serveFetch(fetch: (request: Request) => Response | Promise<Response>, maxHeaderSize?: number): Promise<Running> {
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch, port: 0, hostname: '127.0.0.1', serverOptions: { maxHeaderSize } }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      (server as Server).closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export const drivers = { express: expressDriver, fastify: fastifyDriver, hono: honoDriver, fetch: fetchDriver };
