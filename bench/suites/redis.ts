// Redis rows: one ioredis connection, `concurrency` callers each awaiting one call at a time,
// against the bench's private redis-server. Reports throughput, latency percentiles and the
// client CPU each call costs (the server runs on the same machine, so CPU spent in the client is
// CPU the server does not get).
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { RedisKeyedTokenBucket, RedisTokenBucket } from '../../src/redis.js';
import { MINIMAL_BUCKET_LUA } from '../minimal-lua.js';
import { percentile, type Metrics, type Timing } from '../measure.js';
import type { Contender, Job } from './types.js';

const BIG = 1e9;

/** Calls `op` from `concurrency` concurrent callers for the given time. Every call must resolve truthy. */
export async function redisLoop(op: () => Promise<unknown>, concurrency: number, { warmMs, measureMs }: Timing): Promise<Metrics> {
  const run = async (ms: number, latencies: number[] | undefined): Promise<{ calls: number; elapsed: number; cpu: NodeJS.CpuUsage }> => {
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
  };
  await run(warmMs, undefined);
  const latencies: number[] = [];
  const { calls, elapsed, cpu } = await run(measureMs, latencies);
  return {
    opsPerSec: (calls / elapsed) * 1000,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    cpuUsPerCall: (cpu.user + cpu.system) / calls,
  };
}

export async function connect(port: number): Promise<Redis> {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  return redis;
}

type Setup = (redis: Redis, key: string) => Promise<() => Promise<unknown>>;

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

// Many keys: consecutive calls go to different keys of 10,000 (round-robin), so no two calls of one
// tick share a key and nothing can be gathered into one script call: the per-call cost of keyed use.
const KEYS = 10_000;
const keySetups: Record<string, Setup> = {
  PING: setups.PING!,
  'minimal Lua bucket': async (redis, key) => {
    const sha = (await redis.script('LOAD', MINIMAL_BUCKET_LUA)) as string;
    const perMs = String(BIG / 1000);
    const keys = Array.from({ length: KEYS }, (_, i) => `${key}:${i}`);
    let i = 0;
    return () => redis.evalsha(sha, 1, keys[i++ % KEYS]!, BIG, perMs, 1);
  },
  'bucketflow RedisKeyedTokenBucket': async (redis, key) => {
    const keyed = new RedisKeyedTokenBucket({ redis, prefix: `${key}:`, capacity: BIG, fillRate: BIG });
    const keys = Array.from({ length: KEYS }, (_, i) => String(i));
    let i = 0;
    return () => keyed.consume(keys[i++ % KEYS]!);
  },
  'rate-limiter-flexible': async (redis, key) => {
    const rl = new RateLimiterRedis({ storeClient: redis, keyPrefix: key, points: BIG, duration: 3600 });
    const keys = Array.from({ length: KEYS }, (_, i) => String(i));
    let i = 0;
    return () => rl.consume(keys[i++ % KEYS]!, 1);
  },
};

function contender(name: string, setup: Setup, concurrency: number): Contender {
  return async (job: Job) => {
    if (job.redisPort === undefined) throw new Error('Redis rows need the private redis-server port');
    const redis = await connect(job.redisPort);
    try {
      const key = `bench:${name}:${concurrency}:${process.pid}`;
      const op = await setup(redis, key);
      return await redisLoop(op, concurrency, job.timing);
    } finally {
      redis.disconnect();
    }
  };
}

function row(concurrency: number, of: Record<string, Setup> = setups): Record<string, Contender> {
  return Object.fromEntries(Object.entries(of).map(([name, setup]) => [name, contender(name, setup, concurrency)]));
}

export const redisC1 = row(1);
export const redisC64 = row(64);
export const redisKeysC64 = row(64, keySetups);
