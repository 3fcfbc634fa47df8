// Importing bucketflow/http loads no framework: express, fastify, fastify-plugin and hono are
// optional peers that only the types name. Checked in a fresh process in which resolving any of
// them fails, for the source entry and (once built) the ESM and CommonJS builds.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const FRAMEWORKS = String.raw`^(express|fastify|fastify-plugin|hono|@hono\/node-server)(\/|$)`;

// A resolve hook that refuses the frameworks, so loading one fails loudly instead of passing unseen.
const hooks = `export async function resolve(specifier, context, next) {
  if (/${FRAMEWORKS}/.test(specifier)) throw new Error('bucketflow/http loaded ' + specifier);
  return next(specifier, context);
}`;

async function load(how: 'import' | 'require', entry: string): Promise<{ exports: string[]; loaded: string[] }> {
  const code = `
    import { register, createRequire } from 'node:module';
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}));
    const require = createRequire(${JSON.stringify(root)});
    const http = ${how === 'import' ? `await import(${JSON.stringify(entry)})` : `require(${JSON.stringify(entry)})`};
    const loaded = Object.keys(require.cache).filter((k) => /node_modules[\\\\/](express|fastify|fastify-plugin|hono|@hono)[\\\\/]/.test(k));
    console.log(JSON.stringify({ exports: Object.keys(http).sort(), loaded }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, timeout: 30_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as { exports: string[]; loaded: string[] };
}

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
