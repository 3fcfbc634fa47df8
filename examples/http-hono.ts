// Hono: no client address is known on every runtime, so a keyed limiter needs a key: here the
// caller's API key. Clients may wait up to 2 s for a token instead of getting a 429.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { KeyedTokenBucket } from 'bucketflow';
import { honoRateLimit } from 'bucketflow/http';

const app = new Hono();
app.use('*', honoRateLimit({
  limiter: new KeyedTokenBucket({ capacity: 2, fillRate: 10 }),
  key: (c) => c.req.header('x-api-key') ?? 'anonymous',
  maxWait: 2000,
}));
app.get('/', (c) => c.text('hello'));

const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
await new Promise((resolve) => server.once('listening', resolve));
const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
const started = performance.now();
const answers = await Promise.all([1, 2, 3, 4].map(() => fetch(url, { headers: { 'x-api-key': 'alice' } })));
console.log('hono, 4 at once for alice:', answers.map((r) => r.status).join(' '), `in ~${Math.round((performance.now() - started) / 100) * 100} ms`); // the last two wait their turn, 100 ms apart
server.close();
