import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(`./src/${p}`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^bucketflow$/, replacement: src('index.ts') },
      { find: /^bucketflow\/async$/, replacement: src('async.ts') },
      { find: /^bucketflow\/hierarchical$/, replacement: src('hierarchical-entry.ts') },
      { find: /^bucketflow\/redis$/, replacement: src('redis.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Starts a private redis-server for the Redis tests and kills every server tests started.
    globalSetup: ['test/redis/global-setup.ts'],
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', 'text'],
    },
  },
});
