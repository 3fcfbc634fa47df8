// RedisSemaphore: at most N at once across every process using the same key. Needs a Redis server:
//   REDIS_URL=redis://127.0.0.1:6379 node --import tsx examples/redis-semaphore.ts
import { Redis } from 'ioredis';
import { Semaphore } from 'bucketflow';
import { RedisSemaphore } from 'bucketflow/redis';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const [redis, elsewhere] = [new Redis(url), new Redis(url)]; // two connections, as two processes have
const key = `example:${process.pid}:partner-api`;

// At most 2 calls to a partner API at once, whichever process makes them. A lease lasts 10 s unless
// renewed (a crashed holder's slot frees then); run() renews it while its function runs. If Redis
// fails, this process falls back to 1 call at a time.
const here = new RedisSemaphore({ redis, key, limit: 2, leaseTime: 10_000, onRedisError: new Semaphore({ limit: 1 }) });
const there = new RedisSemaphore({ redis: elsewhere, key, limit: 2 });

const first = await here.acquire();
const second = await there.acquire();
console.log('in use:', await here.inUse(), '| tryAcquire:', await there.tryAcquire()); // in use: 2 | tryAcquire: undefined

const queued = there.acquire({ maxWait: 5000 }); // waits its turn; woken as soon as a slot frees
await first.release();
const third = await queued;
console.log('the waiter got the slot released by the other connection');
await Promise.all([second.release(), third.release()]);

console.log(await here.run(async () => 'called the API'), '| in use after run:', await here.inUse()); // called the API | in use after run: 0
redis.disconnect();
elsewhere.disconnect();
