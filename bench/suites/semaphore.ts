// Semaphores (concurrency limits): acquire + release pairs per second. Locally, 1 and 64 callers
// on a limit of 64, so no caller ever waits for a slot; on Redis, 1 and 64 callers on one
// connection with a limit of 1,000, so none waits there either. What is measured is the cost of
// taking and giving back a slot, not of queueing.
import { Sema } from 'async-sema';
import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';
import pLimit from 'p-limit';
import { Semaphore } from '../../src/index.js';
import { RedisSemaphore } from '../../src/redis.js';
import { MINIMAL_SEMAPHORE_ACQUIRE_LUA } from '../minimal-semaphore-lua.js';
import { pairLoop } from '../measure.js';
import { redisRow, type Setup } from './redis.js';
import type { Contender } from './types.js';

const LOCAL_LIMIT = 64;
/** Above any number of callers in these rows: every acquire finds a free slot. */
const REDIS_LIMIT = 1000;
/** The minimal semaphore's lease time; leases are released long before it runs out. */
const LEASE_MS = 60_000;

const done = (): Promise<boolean> => Promise.resolve(true);
const nothing = (): void => {};

function local(concurrency: number): Record<string, Contender> {
  return {
    'bucketflow Semaphore': ({ timing }) => {
      const sem = new Semaphore({ limit: LOCAL_LIMIT });
      return pairLoop(() => sem.acquire(), (lease) => lease.release(), concurrency, timing);
    },
    // A job is bottleneck's unit of holding a slot: the slot is freed when the job's promise settles.
    bottleneck: ({ timing }) => {
      const limiter = new Bottleneck({ maxConcurrent: LOCAL_LIMIT });
      return pairLoop(() => limiter.schedule(done), nothing, concurrency, timing);
    },
    // The same for p-limit: a call of the limited function holds a slot until its promise settles.
    'p-limit': ({ timing }) => {
      const limit = pLimit(LOCAL_LIMIT);
      return pairLoop(() => limit(done), nothing, concurrency, timing);
    },
    'async-sema': ({ timing }) => {
      const sema = new Sema(LOCAL_LIMIT);
      return pairLoop(() => sema.acquire(), () => sema.release(), concurrency, timing);
    },
  };
}

/** The minimal script's acquire, as `defineCommand` adds it to the connection. */
interface MinimalSemaphoreCommand {
  minimalSemaphoreAcquire(key: string, limit: number, leaseMs: number, id: string): Promise<number>;
}

const setups: Record<string, Setup> = {
  'minimal Lua semaphore': async (redis, key) => {
    redis.defineCommand('minimalSemaphoreAcquire', { numberOfKeys: 1, lua: MINIMAL_SEMAPHORE_ACQUIRE_LUA });
    const command = redis as unknown as MinimalSemaphoreCommand;
    let next = 0;
    return async () => {
      const id = String(next++);
      if ((await command.minimalSemaphoreAcquire(key, REDIS_LIMIT, LEASE_MS, id)) !== 1) return false;
      await redis.zrem(key, id);
      return true;
    };
  },
  'bucketflow RedisSemaphore': async (redis, key) => {
    const sem = new RedisSemaphore({ redis, key, limit: REDIS_LIMIT });
    return async () => {
      const lease = await sem.acquire();
      await lease.release();
      return true;
    };
  },
  // Bottleneck's Redis datastore makes its own two connections (commands, and pub/sub for its
  // clients' messages) from `clientOptions`; the row's connection carries nothing of it.
  'bottleneck (ioredis datastore)': async (redis, key) => {
    const limiter = new Bottleneck({
      id: key, maxConcurrent: REDIS_LIMIT, datastore: 'ioredis', clearDatastore: true,
      Redis, clientOptions: { host: '127.0.0.1', port: redis.options.port },
    });
    // Bottleneck reports a failing datastore as an event, not through the job's promise.
    let failure: unknown;
    limiter.on('error', (error: unknown) => (failure ??= error));
    await limiter.ready();
    return () => (failure === undefined ? limiter.schedule(done) : Promise.reject(failure));
  },
};

export const semLocalC1 = local(1);
export const semLocalC64 = local(64);
export const semRedisC1 = redisRow(1, setups);
export const semRedisC64 = redisRow(64, setups);
