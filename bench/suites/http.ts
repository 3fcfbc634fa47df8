// HTTP rows: a trivial route (`GET /` answering a short text) served on 127.0.0.1 by Express or
// Fastify, with no limiter, with bucketflow's adapter and with the limiter users would pick
// instead. Every limit is so large that each request passes, so every request takes the whole
// allow path: key, take, headers.
//
// The server runs in the row's child process; the load (autocannon) runs in a process of its own
// that the server's process forks, once to warm up and once for the measured window. So the
// server's CPU per request (`process.cpuUsage()` around the measured window) is the server's
// alone. Both processes share the machine's cores, like the Redis rows: compare within one run.
import { fork } from 'node:child_process';
import { createServer, get, type Server as NodeServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Result } from 'autocannon';
import type { Application } from 'express';
import type { FastifyInstance, FastifyPluginCallback } from 'fastify';
import { KeyedTokenBucket } from '../../src/index.js';
import { expressRateLimit, fastifyRateLimit } from '../../src/http.js';
import { percentile, type Metrics } from '../measure.js';
import type { Contender, Job, LoadJob } from './types.js';

const BIG = 1e9;
/** Open connections of the load, each sending its next request once the last is answered. */
const CONNECTIONS = 64;
const BODY = 'hello';

/** What every HTTP contender reports. */
type HttpMetrics = Metrics & { opsPerSec: number; p50Ms: number; p99Ms: number; serverCpuUsPerRequest: number };

/** A contender's server, listening on 127.0.0.1. */
interface Server {
  port: number;
  close(): Promise<void>;
}

/** One contender of an HTTP row. */
interface Setup {
  /** Starts the server; its route calls `answered` for every request it answers. */
  start(answered: () => void): Promise<Server>;
  /** A response header the limiter sets on every response: proof that it ran. */
  header?: string;
}

/** Express with `limit` (if any) installing the limiter in front of the route. */
function expressServer(limit?: (app: Application) => void | Promise<void>): Setup['start'] {
  return async (answered) => {
    // Imported here, not at the top: every row's child process loads this file.
    const { default: express } = await import('express');
    const app = express();
    await limit?.(app);
    app.get('/', (_req, res) => {
      answered();
      res.send(BODY);
    });
    const server = createServer(app);
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    return { port: (server.address() as AddressInfo).port, close: () => closeNode(server) };
  };
}

/** Stops a Node server, dropping any connection a load generator left open. */
function closeNode(server: NodeServer): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Fastify with `limit` (if any) registering the limiter at the root, so it covers the route. */
function fastifyServer(limit?: (app: FastifyInstance) => Promise<void>): Setup['start'] {
  return async (answered) => {
    const { fastify } = await import('fastify');
    const app = fastify();
    await limit?.(app);
    app.get('/', async () => {
      answered();
      return BODY;
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { port: (app.server.address() as AddressInfo).port, close: () => app.close() };
  };
}

// Imported by a name TypeScript does not follow: @fastify/rate-limit's types declare a route's
// `config.rateLimit` as its own options, bucketflow's plugin declares it as its own, and one
// program cannot hold both declarations.
const FASTIFY_RATE_LIMIT: string = '@fastify/rate-limit';
type FastifyRateLimitPlugin = FastifyPluginCallback<{ max: number; timeWindow: number }>;

/** bucketflow's limit: one bucket per client address, far above any rate the load reaches. */
const keyedBucket = (): KeyedTokenBucket => new KeyedTokenBucket({ capacity: BIG, fillRate: BIG });

const expressSetups: Record<string, Setup> = {
  'no limiter': { start: expressServer() },
  'bucketflow expressRateLimit': {
    header: 'ratelimit',
    start: expressServer((app) => void app.use(expressRateLimit({ limiter: keyedBucket() }))),
  },
  // Memory store; the draft-8 header fields are the same two as bucketflow's default.
  'express-rate-limit': {
    header: 'ratelimit',
    start: expressServer(async (app) => {
      const { rateLimit } = await import('express-rate-limit');
      app.use(rateLimit({ windowMs: 60_000, limit: BIG, standardHeaders: 'draft-8', legacyHeaders: false }));
    }),
  },
};

/** An ioredis client of the bench's private redis-server. */
async function redisClient(port: number | undefined): Promise<import('ioredis').Redis> {
  if (port === undefined) throw new Error('the Redis HTTP row needs the private redis-server port');
  const { Redis } = await import('ioredis');
  return new Redis({ port, host: '127.0.0.1' });
}

/** Express with a Redis-backed limiter in front of the route: one budget per client across processes. */
function expressRedisSetups(redisPort: number | undefined): Record<string, Setup> {
  return {
    'no limiter': { start: expressServer() },
    'bucketflow expressRateLimit': {
      header: 'ratelimit',
      start: expressServer(async (app) => {
        const { RedisKeyedTokenBucket } = await import('../../src/redis.js');
        const limiter = new RedisKeyedTokenBucket({ redis: await redisClient(redisPort), prefix: `bench:http:${process.pid}:`, capacity: BIG, fillRate: BIG });
        app.use(expressRateLimit({ limiter }));
      }),
    },
    // rate-limit-redis: express-rate-limit's Redis store, sending its commands through ioredis.
    'express-rate-limit + rate-limit-redis': {
      header: 'ratelimit',
      start: expressServer(async (app) => {
        const { rateLimit } = await import('express-rate-limit');
        const { RedisStore } = await import('rate-limit-redis');
        const redis = await redisClient(redisPort);
        const store = new RedisStore({
          prefix: `bench:erl:${process.pid}:`,
          sendCommand: (command: string, ...args: string[]) => redis.call(command, ...args) as never,
        });
        app.use(rateLimit({ windowMs: 60_000, limit: BIG, standardHeaders: 'draft-8', legacyHeaders: false, store }));
      }),
    },
  };
}

const fastifySetups: Record<string, Setup> = {
  'no limiter': { start: fastifyServer() },
  'bucketflow fastifyRateLimit': {
    header: 'ratelimit',
    start: fastifyServer(async (app) => void (await app.register(fastifyRateLimit, { limiter: keyedBucket() }))),
  },
  // In-memory store, its default headers (X-RateLimit-Limit, -Remaining, -Reset).
  '@fastify/rate-limit': {
    header: 'x-ratelimit-remaining',
    start: fastifyServer(async (app) => {
      const { default: rateLimit } = (await import(FASTIFY_RATE_LIMIT)) as { default: FastifyRateLimitPlugin };
      await app.register(rateLimit, { max: BIG, timeWindow: 60_000 });
    }),
  },
};

/** One request before any load: the route answers, and the limiter (if any) set its header. */
function probe(url: string, header: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => {
        if (res.statusCode !== 200 || body !== BODY) reject(new Error(`GET ${url} answered ${res.statusCode} ${JSON.stringify(body)}, expected 200 ${JSON.stringify(BODY)}`));
        else if (header !== undefined && res.headers[header] === undefined) reject(new Error(`GET ${url} has no ${header} header: the limiter did not run`));
        else resolve();
      });
    }).on('error', reject);
  });
}

/**
 * Forks the load generator (this same child script, with `load` set in its job) and resolves
 * with what it measured. The fork happens before this returns, so a CPU reading taken right
 * after the call leaves the cost of forking out.
 */
function loadFrom(job: Job, load: LoadJob): Promise<Metrics> {
  return new Promise((resolve, reject) => {
    // process.argv[1] is the child script (bundled, or bench/child.ts under tsx by hand); execArgv is inherited.
    const proc = fork(process.argv[1]!, [JSON.stringify({ ...job, load })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let answer: { ok: boolean; metrics?: Metrics; error?: string } | undefined;
    proc.on('message', (m) => (answer = m as typeof answer));
    proc.on('exit', (code) => {
      if (answer?.ok && answer.metrics) resolve(answer.metrics);
      else reject(new Error(`load generator: ${answer?.error ?? `exited with code ${code} and no answer`}`));
    });
  });
}

/** The server's side: warm up, then the measured window with the server's CPU read around it. */
async function serve(setup: Setup, job: Job): Promise<HttpMetrics> {
  let answered = 0;
  const server = await setup.start(() => void answered++);
  try {
    const url = `http://127.0.0.1:${server.port}/`;
    await probe(url, setup.header);
    await loadFrom(job, { url, ms: job.timing.warmMs });
    gc?.(); // the warm-up's garbage is not the window's
    const measured = loadFrom(job, { url, ms: job.timing.measureMs });
    const cpu0 = process.cpuUsage();
    const before = answered;
    const load = await measured;
    const cpu = process.cpuUsage(cpu0);
    return {
      opsPerSec: load.opsPerSec!,
      p50Ms: load.p50Ms!,
      p99Ms: load.p99Ms!,
      serverCpuUsPerRequest: (cpu.user + cpu.system) / (answered - before),
    };
  } finally {
    await server.close();
  }
}

/** The load generator's side: autocannon for `ms`, every response 2xx or the measurement fails. */
async function generateLoad({ url, ms }: LoadJob): Promise<Metrics> {
  const { default: autocannon } = await import('autocannon');
  // autocannon's own percentiles are in whole milliseconds; its response event has the exact time.
  const latencies: number[] = [];
  const start = performance.now();
  const result = await new Promise<Result>((resolve, reject) => {
    // sampleInt: autocannon stops at its first sample after `duration`; 100 ms keeps the window near `ms`.
    autocannon({ url, connections: CONNECTIONS, pipelining: 1, duration: ms / 1000, sampleInt: 100 }, (error: unknown, r: Result) =>
      error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(r),
    ).on('response', (_client, _status, _bytes, responseTime) => void latencies.push(responseTime));
  });
  const elapsed = performance.now() - start;
  const failed = result.non2xx + result.errors + result.mismatches;
  if (failed > 0 || result['2xx'] === 0) {
    const codes = Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => `${code}: ${s.count ?? 0}`).join(', ');
    throw new Error(`${result['2xx']} responses 2xx, ${result.non2xx} not (${codes}), ${result.errors} errors (${result.timeouts} timeouts): every request must pass`);
  }
  return { opsPerSec: (result['2xx'] / elapsed) * 1000, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

/** An HTTP row: each setup's server measured under the same load. */
function httpRow(setups: Record<string, Setup>): Record<string, Contender> {
  return Object.fromEntries(Object.entries(setups).map(([name, setup]) => [
    name,
    (job: Job) => (job.load === undefined ? serve(setup, job) : generateLoad(job.load)),
  ]));
}

export const httpExpress = httpRow(expressSetups);
export const httpExpressRedis: Record<string, Contender> = Object.fromEntries(
  Object.keys(expressRedisSetups(undefined)).map((name) => [name, (job: Job) => httpRow(expressRedisSetups(job.redisPort))[name]!(job)]),
);
export const httpFastify = httpRow(fastifySetups);
