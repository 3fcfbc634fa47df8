// The same Redis limiters on node-redis (the `redis` package, v5 or v6). Needs a Redis server:
//   REDIS_URL=redis://127.0.0.1:6379 node --import tsx examples/redis-node-redis.ts
import { createClient } from 'redis';
import { RedisSemaphore, RedisTokenBucket } from 'bucketflow/redis';

const redis = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
redis.on('error', (error) => console.error('redis:', error.message));
await redis.connect(); // node-redis sends nothing before connect()

const api = new RedisTokenBucket({ redis, key: `example:${process.pid}:api`, capacity: 3, fillRate: 1 });
const answers = await Promise.all([1, 2, 3, 4].map(() => api.consume()));
console.log('4 requests at once:', answers.join(' ')); // true true true false

// Wake-ups come over a second connection the semaphore makes with redis.duplicate().
const slots = new RedisSemaphore({ redis, key: `example:${process.pid}:slots`, limit: 1 });
const held = await slots.acquire();
const next = slots.acquire({ maxWait: 5000 });
await held.release();
await (await next).release();
console.log('semaphore handed over, in use:', await slots.inUse()); // semaphore handed over, in use: 0

redis.destroy();
