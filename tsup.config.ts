import { defineConfig } from 'tsup';
import { embedLua } from './scripts/embed-lua.mjs';

// The Redis buckets' Lua scripts are bundled as text from a generated module (src/redis/lua/*.lua
// → scripts.generated.ts): refresh it before building. dist/ then holds no .lua file.
embedLua();

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    async: 'src/async.ts',
    hierarchical: 'src/hierarchical-entry.ts',
    redis: 'src/redis.ts',
    http: 'src/http.ts',
    otel: 'src/otel.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  // Splitting in both formats keeps one copy of each class per format, so `instanceof`
  // works whichever entry a user imported (tsup only splits ESM unless told).
  splitting: true,
  clean: true,
  sourcemap: false,
  target: 'node20',
  // Redis clients and frameworks are optional peers the entries only name in types (or not at all):
  // never bundled, never loaded.
  // @opentelemetry/api is an optional peer too, loaded by the otel entry only: it must be the
  // application's copy, the one its SDK registered with (a bundled copy of another version may not see it).
  external: ['ioredis', 'iovalkey', 'redis', /^@redis\//, 'express', 'fastify', 'hono', '@opentelemetry/api'],
});
