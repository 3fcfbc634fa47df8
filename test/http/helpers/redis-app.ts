// A child process for the multi-process HTTP test: an Express or Fastify server on 127.0.0.1 whose
// limiter is a RedisKeyedTokenBucket, so several processes share one budget per client. It sends
// its port over IPC once listening, reports what its limiter decided when asked ('report'), and
// exits when the parent disconnects.
//
// Run with `node --import tsx`; argv: framework ('express' | 'fastify'), Redis URL, key prefix,
// capacity, fillRate.

import { subscribe } from 'node:diagnostics_channel';
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

/** Milliseconds on the machine's monotonic clock: one timeline for every process. */
const machineNow = (): number => Number(process.hrtime.bigint()) / 1e6;
/** A stretch longer than this (ms) without a decision is recorded as idle: nobody asked the bucket. */
const IDLE_GAP = 20;

// What the limiter decided, as its decision events say: how many requests it admitted, when it
// first and last decided one, and the idle stretches in between.
const report = { admitted: 0, first: Number.NaN, last: Number.NaN, idle: [] as [number, number][] };
subscribe('bucketflow:decision', (message) => {
  const { bucket, allowed } = message as { bucket: object; allowed: boolean };
  if (bucket !== limiter) return;
  const t = machineNow();
  if (t - report.last > IDLE_GAP) report.idle.push([report.last, t]);
  if (Number.isNaN(report.first)) report.first = t;
  report.last = t;
  if (allowed) report.admitted++;
});
process.on('message', (m) => {
  if (m === 'report') process.send!(report);
});

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
