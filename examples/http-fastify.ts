// Fastify: the plugin limits every route of the context it is registered in; a route can cost
// more (config.rateLimit.cost) or opt out (config.rateLimit: false).
import Fastify from 'fastify';
import { KeyedTokenBucket } from 'bucketflow';
import { fastifyRateLimit } from 'bucketflow/http';

const app = Fastify();
await app.register(fastifyRateLimit, { limiter: new KeyedTokenBucket({ capacity: 5, fillRate: 1 }) });
app.get('/search', { config: { rateLimit: { cost: 2 } } }, async () => 'results');
app.get('/health', { config: { rateLimit: false } }, async () => 'ok');

const address = await app.listen({ port: 0, host: '127.0.0.1' });
for (let i = 1; i <= 3; i++) {
  const res = await fetch(`${address}/search`);
  console.log(`fastify /search #${i}:`, res.status, res.headers.get('ratelimit'), res.headers.get('retry-after') ?? '');
}
const health = await fetch(`${address}/health`);
console.log('fastify /health:', health.status, health.headers.get('ratelimit') ?? 'no rate-limit headers');
await app.close();
