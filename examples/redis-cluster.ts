// The same buckets on a Redis Cluster. Give one or more nodes:
//   REDIS_CLUSTER=127.0.0.1:7000,127.0.0.1:7001 node --import tsx examples/redis-cluster.ts
import { Cluster } from 'ioredis';
import { RedisKeyedTokenBucket, RedisTokenBucket, createRedisBucketHierarchy } from 'bucketflow/redis';

const nodes = (process.env.REDIS_CLUSTER ?? '127.0.0.1:7000').split(',').map((hostPort) => {
  const [host, port] = hostPort.split(':');
  return { host: host!, port: Number(port) };
});
const redis = new Cluster(nodes);
const run = `example:${process.pid}:`;

// One key per bucket: any slot will do.
const bucket = new RedisTokenBucket({ redis, key: `${run}api`, capacity: 10, fillRate: 5 });
console.log('bucket:', await bucket.consume(10), await bucket.consume()); // true false

// All keys of a hierarchy carry the root's {hash tag}, so its one script never meets CROSSSLOT.
const { search } = createRedisBucketHierarchy({
  redis, prefix: run, name: 'api', capacity: 4, fillRate: 2,
  children: [{ name: 'search', capacity: 3, fillRate: 1 }],
});
console.log('hierarchy:', await search.consume(3), search.key); // true example:<pid>:{api}:search

// Each client key is its own Redis key, spread over the cluster.
const perUser = new RedisKeyedTokenBucket({ redis, prefix: `${run}user:`, capacity: 2, fillRate: 1 });
console.log('keyed:', await perUser.consume('alice', 2), await perUser.consume('bob', 2)); // true true

redis.disconnect();
