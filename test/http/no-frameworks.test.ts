// Importing bucketflow/http loads no framework: express, fastify, fastify-plugin and hono are
// optional peers that only the types name. Checked in a fresh process in which resolving any of
// them fails, for the source entry and (once built) the ESM and CommonJS builds.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadRefusing, type Refused } from '../helpers/load-refusing.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const FRAMEWORKS = String.raw`^(express|fastify|fastify-plugin|hono|@hono\/node-server)(\/|$)`;

const REFUSED: Refused = { specifiers: FRAMEWORKS, folders: String.raw`express|fastify|fastify-plugin|hono|@hono`, message: 'bucketflow/http loaded' };
const load = (how: 'import' | 'require', entry: string) => loadRefusing(REFUSED, how, entry, root);

const EXPORTS = ['RateLimitExceeded', 'RedisBucketError', 'expressRateLimit', 'fastifyRateLimit', 'fetchRateLimit', 'honoRateLimit', 'ipKey', 'rateLimitHeaders'];

describe('bucketflow/http loads no framework', () => {
  it('the source entry', async () => {
    const { exports, loaded } = await load('import', `${root}src/http.ts`);
    expect(exports).toEqual(EXPORTS);
    expect(loaded).toEqual([]);
  }, 40_000);

  const built = existsSync(`${root}dist/http.js`) && existsSync(`${root}dist/http.cjs`);
  it.skipIf(!built).each([['import', 'dist/http.js'], ['require', 'dist/http.cjs']] as const)('the build (%s)', async (how, file) => {
    const { exports, loaded } = await load(how, `${root}${file}`);
    expect(exports).toEqual(expect.arrayContaining(EXPORTS));
    expect(loaded).toEqual([]);
  }, 40_000);
});
