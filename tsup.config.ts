import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    async: 'src/async.ts',
    hierarchical: 'src/hierarchical-entry.ts',
    redis: 'src/redis.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  // Splitting in both formats keeps one copy of each class per format, so `instanceof`
  // works whichever entry a user imported (tsup only splits ESM unless told).
  splitting: true,
  clean: true,
  sourcemap: false,
  target: 'node20',
  external: ['ioredis'],
});
