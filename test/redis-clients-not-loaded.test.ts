// The Redis client libraries are optional peers: no entry loads one, bucketflow/redis included
// (it is handed the user's client and only looks at its shape). Checked in a fresh process in which
// resolving any of them fails, for the source entries and (once built) the ESM and CommonJS builds.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../', import.meta.url));
const CLIENTS = String.raw`^(ioredis\d*|iovalkey|redis\d*|@redis\/[^/]+|@ioredis\/[^/]+|@iovalkey\/[^/]+)(\/|$)`;

// Refuses the client packages, so loading one fails loudly instead of passing unseen.
const hooks = `export async function resolve(specifier, context, next) {
  if (/${CLIENTS}/.test(specifier)) throw new Error('a Redis client was loaded: ' + specifier + ', by ' + context.parentURL);
  return next(specifier, context);
}`;

async function load(how: 'import' | 'require', entry: string): Promise<{ exports: string[]; loaded: string[] }> {
  const code = `
    import { register, createRequire } from 'node:module';
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}));
    const require = createRequire(${JSON.stringify(root)});
    const m = ${how === 'import' ? `await import(${JSON.stringify(entry)})` : `require(${JSON.stringify(entry)})`};
    const loaded = Object.keys(require.cache).filter((k) => /node_modules[\\\\/](ioredis\\d*|iovalkey|redis\\d*|@redis|@ioredis|@iovalkey)[\\\\/]/.test(k));
    console.log(JSON.stringify({ exports: Object.keys(m).sort(), loaded }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, timeout: 30_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as { exports: string[]; loaded: string[] };
}

describe('no entry loads a Redis client library', () => {
  it.each(['redis.ts', 'index.ts', 'async.ts', 'hierarchical-entry.ts', 'http.ts'])('src/%s', async (entry) => {
    const { exports, loaded } = await load('import', `${root}src/${entry}`);
    expect(exports.length).toBeGreaterThan(0);
    expect(loaded).toEqual([]);
  }, 40_000);

  it('the check can fail: importing a client through the same hook throws', async () => {
    await expect(load('import', 'redis')).rejects.toThrow(/a Redis client was loaded: redis/);
  }, 40_000);

  const built = existsSync(`${root}dist/redis.js`) && existsSync(`${root}dist/redis.cjs`);
  it.skipIf(!built).each([['import', 'dist/redis.js'], ['require', 'dist/redis.cjs']] as const)('the build of bucketflow/redis (%s)', async (how, file) => {
    const { exports, loaded } = await load(how, `${root}${file}`);
    expect(exports).toEqual(expect.arrayContaining(['RedisTokenBucket', 'RedisSemaphore', 'RedisKeyedTokenBucket']));
    expect(loaded).toEqual([]);
  }, 40_000);
});
