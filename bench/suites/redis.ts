// Redis rows: one ioredis connection, `concurrency` callers each awaiting one call at a time,
// against the bench's private redis-server. Reports throughput, latency percentiles, the client
// CPU each call costs and the server CPU each call costs (the server runs on the same machine, so
// CPU spent in the client is CPU the server does not get, and the other way round).
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { RedisKeyedTokenBucket, RedisTokenBucket } from '../../src/redis.js';
import { MINIMAL_BUCKET_LUA } from '../minimal-lua.js';
import { percentile, type Metrics, type Timing } from '../measure.js';
import type { Contender, Job } from './types.js';

const BIG = 1e9;

/** What every Redis contender reports; `serverCpuUsPerOp` too when the loop could read the server's CPU. */
export type RedisMetrics = Metrics & { opsPerSec: number; p50Ms: number; p99Ms: number; cpuUsPerCall: number };

interface Window {
  calls: number;
  elapsed: number;
  cpu: NodeJS.CpuUsage;
}

/** `concurrency` callers calling `op` one after the other until `ms` have passed. Every call must resolve truthy. */
async function callers(op: () => Promise<unknown>, concurrency: number, ms: number, latencies?: number[]): Promise<Window> {
  let calls = 0;
  let refused = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const end = start + ms;
  const caller = async (): Promise<void> => {
    for (;;) {
      const t = performance.now();
      if (t >= end) return;
      const ok = await op();
      if (!ok) refused++;
      latencies?.push(performance.now() - t);
      calls++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  const elapsed = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  if (refused > 0) throw new Error(`${refused} calls were refused on the allow path`);
  return { calls, elapsed, cpu };
}

/**
 * Calls `op` from `concurrency` concurrent callers: a warm-up, then the measured window. With
 * `serverCpu` (the server's CPU seconds so far), the server CPU is read once the warm-up's calls
 * have all been answered and again once the window's have, so it covers exactly the window's calls.
 */
export async function redisLoop(
  op: () => Promise<unknown>, concurrency: number, { warmMs, measureMs }: Timing, serverCpu?: () => Promise<number>,
): Promise<RedisMetrics> {
  await callers(op, concurrency, warmMs);
  const server0 = await serverCpu?.();
  const latencies: number[] = [];
  const { calls, elapsed, cpu } = await callers(op, concurrency, measureMs, latencies);
  const server1 = await serverCpu?.();
  const metrics: RedisMetrics = {
    opsPerSec: (calls / elapsed) * 1000,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    cpuUsPerCall: (cpu.user + cpu.system) / calls,
  };
  if (server0 !== undefined && server1 !== undefined) metrics.serverCpuUsPerOp = ((server1 - server0) * 1e6) / calls;
  return metrics;
}

export async function connect(port: number): Promise<Redis> {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  return redis;
}

/** CPU seconds (user + system, every thread) the server has used since it started: `INFO cpu`. */
async function serverCpuSeconds(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1]);
  const seconds = field('used_cpu_user') + field('used_cpu_sys');
  if (!Number.isFinite(seconds)) throw new Error(`cannot read used_cpu_user/used_cpu_sys from INFO cpu: ${info}`);
  return seconds;
}

/** Readies one contender on `redis` under `key` (its own key, or its keys' prefix) and returns the call to measure. */
export type Setup = (redis: Redis, key: string) => Promise<() => Promise<unknown>>;

/** The items one after the other, starting over after the last. */
export function roundRobin<T>(items: readonly T[]): () => T {
  let i = 0;
  return () => {
    const item = items[i]!;
    if (++i === items.length) i = 0;
    return item;
  };
}

/** How many keys the keyed rows spread their calls over. */
const KEYS = 10_000;

/** `KEYS` key names: `${prefix}0`, `${prefix}1`, … */
export const keyNames = (prefix = ''): string[] => Array.from({ length: KEYS }, (_, i) => `${prefix}${i}`);

const setups: Record<string, Setup> = {
  PING: async (redis) => () => redis.ping(),
  'minimal Lua bucket': async (redis, key) => {
    const sha = (await redis.script('LOAD', MINIMAL_BUCKET_LUA)) as string;
    const perMs = String(BIG / 1000);
    return () => redis.evalsha(sha, 1, key, BIG, perMs, 1);
  },
  'bucketflow RedisTokenBucket': async (redis, key) => {
    const bucket = new RedisTokenBucket({ redis, key, capacity: BIG, fillRate: BIG });
    return () => bucket.consume(1);
  },
  'rate-limiter-flexible': async (redis, key) => {
    const rl = new RateLimiterRedis({ storeClient: redis, points: BIG, duration: 3600 });
    return () => rl.consume(key, 1);
  },
};

// Many keys: consecutive calls go to the next of 10,000 keys (round-robin), so no two calls of one
// tick are on the same key. Whatever a limiter gathers here, it gathers across keys.
const keySetups: Record<string, Setup> = {
  PING: setups.PING!,
  'minimal Lua bucket': async (redis, key) => {
    const sha = (await redis.script('LOAD', MINIMAL_BUCKET_LUA)) as string;
    const perMs = String(BIG / 1000);
    const next = roundRobin(keyNames(`${key}:`));
    return () => redis.evalsha(sha, 1, next(), BIG, perMs, 1);
  },
  'bucketflow RedisKeyedTokenBucket': async (redis, key) => {
    const keyed = new RedisKeyedTokenBucket({ redis, prefix: `${key}:`, capacity: BIG, fillRate: BIG });
    const next = roundRobin(keyNames());
    return () => keyed.consume(next());
  },
  'rate-limiter-flexible': async (redis, key) => {
    const rl = new RateLimiterRedis({ storeClient: redis, keyPrefix: key, points: BIG, duration: 3600 });
    const next = roundRobin(keyNames());
    return () => rl.consume(next(), 1);
  },
};

/**
 * One contender in its child process: the connection it is measured on, and a second one that
 * only reads the server's CPU, so those reads queue behind none of the measured calls.
 */
function contender(name: string, setup: Setup, concurrency: number): Contender {
  return async (job: Job) => {
    if (job.redisPort === undefined) throw new Error('Redis rows need the private redis-server port');
    const [redis, admin] = await Promise.all([connect(job.redisPort), connect(job.redisPort)]);
    try {
      const key = `bench:${name}:${concurrency}:${process.pid}`;
      const op = await setup(redis, key);
      return await redisLoop(op, concurrency, job.timing, () => serverCpuSeconds(admin));
    } finally {
      redis.disconnect();
      admin.disconnect();
    }
  };
}

/** A Redis row: each setup measured with `concurrency` callers on one connection. */
export function redisRow(concurrency: number, of: Record<string, Setup>): Record<string, Contender> {
  return Object.fromEntries(Object.entries(of).map(([name, setup]) => [name, contender(name, setup, concurrency)]));
}

export const redisC1 = redisRow(1, setups);
export const redisC64 = redisRow(64, setups);
export const redisKeysC64 = redisRow(64, keySetups);
