// A child process for the multi-process HTTP test: an Express or Fastify server on 127.0.0.1 whose
// limiter is a RedisKeyedTokenBucket, so several processes share one budget per client. It sends
// its port over IPC once listening and exits when the parent disconnects.
//
// Run with `node --import tsx`; argv: framework ('express' | 'fastify'), Redis URL, key prefix,
// capacity, fillRate.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { expressRateLimit, fastifyRateLimit } from '../../../src/http.js';
import { RedisKeyedTokenBucket } from '../../../src/redis.js';

const [framework, url, prefix, capacity, fillRate] = process.argv.slice(2);
const redis = new Redis(url!);
const limiter = new RedisKeyedTokenBucket({ redis, prefix: prefix!, capacity: Number(capacity), fillRate: Number(fillRate) });

let port: number;
let close: () => Promise<void>;
if (framework === 'express') {
  const app = express();
  app.use(expressRateLimit({ limiter }));
  app.get('/', (_req, res) => void res.send('ok'));
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  close = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
} else {
  const app = Fastify();
  await app.register(fastifyRateLimit, { limiter });
  app.get('/', async () => 'ok');
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as AddressInfo).port;
  close = () => app.close();
}

process.send!({ port });
process.on('disconnect', () => {
  void close().finally(() => {
    redis.disconnect();
    process.exit(0);
  });
});
