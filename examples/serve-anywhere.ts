// One rate-limited fetch handler for `deno serve main.ts`, `bun main.ts` and Cloudflare Workers,
// each of which serves a module whose default export has fetch(): the core and the fetch adapter
// load without any Node API.
import { KeyedTokenBucket } from 'bucketflow';
import { fetchRateLimit } from 'bucketflow/http';

const limiter = new KeyedTokenBucket({ capacity: 2, fillRate: 1 }); // per API key: 2 at once, then 1 a second
export default {
  fetch: fetchRateLimit(() => new Response('hello\n'), {
    limiter,
    key: (request) => request.headers.get('x-api-key') ?? 'anonymous',
  }),
};
