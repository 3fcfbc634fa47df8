// fetch-style handlers (Next.js route handlers, Bun, Deno, workers): wrap the handler; refused
// requests get a 429 without reaching it. Served here by @hono/node-server, but any runtime will do.
import { serve } from '@hono/node-server';
import { KeyedTokenBucket } from 'bucketflow';
import { fetchRateLimit } from 'bucketflow/http';

const limiter = new KeyedTokenBucket({ capacity: 2, fillRate: 1 });
export const GET = fetchRateLimit(() => Response.json({ ok: true }), {
  limiter,
  key: (request) => request.headers.get('authorization') ?? 'anonymous',
});

const server = serve({ fetch: GET, port: 0, hostname: '127.0.0.1' });
await new Promise((resolve) => server.once('listening', resolve));
const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
for (let i = 1; i <= 3; i++) {
  const res = await fetch(url, { headers: { authorization: 'Bearer alice' } });
  console.log(`fetch #${i}:`, res.status, res.headers.get('ratelimit'), res.headers.get('retry-after') ?? '');
}
server.close();
