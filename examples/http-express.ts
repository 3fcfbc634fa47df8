// Express: a budget per client address (bursts of 3, then 1 request per second), the IETF draft's
// RateLimit headers on every response, and 429 with Retry-After once the budget is spent.
import type { AddressInfo } from 'node:net';
import express from 'express';
import { KeyedTokenBucket } from 'bucketflow';
import { expressRateLimit } from 'bucketflow/http';

const app = express();
app.set('trust proxy', 'loopback'); // req.ip is the client behind a proxy on this machine
app.use(expressRateLimit({ limiter: new KeyedTokenBucket({ capacity: 3, fillRate: 1 }) }));
app.get('/', (req, res) => {
  res.send(`hello ${req.ip}`);
});

const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
for (let i = 1; i <= 4; i++) {
  const res = await fetch(url);
  console.log(`express #${i}:`, res.status, res.headers.get('ratelimit'), res.headers.get('retry-after') ?? '');
}
console.log('express policy:', (await fetch(url)).headers.get('ratelimit-policy')); // "default";q=3;w=3
server.close();
