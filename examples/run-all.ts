// `npm run example`: runs every core demo in turn, on the in-memory buckets (no Redis).
const demos = [
  'quick-start',
  'basic-bucket',
  'rate-limit',
  'decorator',
  'async',
  'hierarchy',
  'hierarchy-from-config',
  'manual-clock',
  'keyed',
  'workers',
  'take',
  'semaphore',
  'set-limits',
  'events',
  'otel',
  'http-express',
  'http-fastify',
  'http-hono',
  'http-fetch',
];

const started = performance.now();
for (const demo of demos) {
  console.log(`\n--- examples/${demo}.ts`);
  await import(`./${demo}.js`);
}
console.log(`\nall ${demos.length} demos ran in ${Math.round(performance.now() - started)} ms`);
