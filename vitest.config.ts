import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { embedLua } from './scripts/embed-lua.mjs';

// The Redis buckets' Lua scripts reach the code as a generated module (src/redis/lua/*.lua →
// scripts.generated.ts): refresh it before any test imports it.
embedLua();

const src = (p: string) => fileURLToPath(new URL(`./src/${p}`, import.meta.url));
const root = fileURLToPath(new URL('./', import.meta.url));

const bucketflow = [
  { find: /^bucketflow$/, replacement: src('index.ts') },
  { find: /^bucketflow\/async$/, replacement: src('async.ts') },
  { find: /^bucketflow\/hierarchical$/, replacement: src('hierarchical-entry.ts') },
  { find: /^bucketflow\/redis$/, replacement: src('redis.ts') },
  { find: /^bucketflow\/http$/, replacement: src('http.ts') },
  { find: /^bucketflow\/otel$/, replacement: src('otel.ts') },
];

// The Redis tests run once per supported ioredis major: `ioredis` (the devDependency, 5.x) and
// `ioredis6` (npm:ioredis@6.x). Which tests: everything under test/redis/, and any other test file
// that names 'ioredis' itself (found here, so a new one cannot be forgotten).
const redisTests = [
  'test/redis/**/*.test.ts',
  ...readdirSync(new URL('./test/', import.meta.url), { recursive: true, encoding: 'utf8' })
    .map((f) => `test/${f.replaceAll('\\', '/')}`)
    .filter((f) => f.endsWith('.test.ts') && !f.startsWith('test/redis/'))
    .filter((f) => /['"]ioredis(\/[^'"]*)?['"]/.test(readFileSync(new URL(f, `file://${root}`), 'utf8'))),
];

// Child processes the Redis tests start (`node --import tsx ...`: multi-process hammers, the README
// example) resolve 'ioredis' through Node, not Vite: this hook, put in NODE_OPTIONS, maps it there.
const ioredis6Hook = fileURLToPath(new URL('./test/redis/helpers/ioredis6-register.mjs', import.meta.url));

export default defineConfig({
  test: {
    // Once for the whole run, whatever projects run: starts a private redis-server that both
    // projects share (every test uses keys of its own) and kills every server tests started.
    globalSetup: ['test/tmp-guard.ts', 'test/redis/global-setup.ts'],
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', 'text'],
    },
    projects: [
      {
        resolve: { alias: bucketflow },
        test: {
          name: 'unit+redis (ioredis 5)',
          include: ['test/**/*.test.ts'],
          provide: { ioredisMajor: 5 },
        },
      },
      {
        resolve: {
          alias: [...bucketflow, { find: /^ioredis(\/.*)?$/, replacement: 'ioredis6$1' }],
        },
        test: {
          name: 'redis (ioredis 6)',
          include: redisTests,
          // The other client libraries (node-redis, iovalkey) run once, in the first project.
          exclude: ['test/redis/clients/**'],
          provide: { ioredisMajor: 6 },
          env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${JSON.stringify(ioredis6Hook)}`.trim() },
        },
      },
    ],
  },
});
