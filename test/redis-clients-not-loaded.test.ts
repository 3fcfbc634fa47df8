// The Redis client libraries are optional peers: no entry loads one, bucketflow/redis included
// (it is handed the user's client and only looks at its shape). Checked in a fresh process in which
// resolving any of them fails, for the source entries and (once built) the ESM and CommonJS builds.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadRefusing, type Refused } from './helpers/load-refusing.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const CLIENTS = String.raw`^(ioredis\d*|iovalkey|redis\d*|@redis\/[^/]+|@ioredis\/[^/]+|@iovalkey\/[^/]+)(\/|$)`;

const REFUSED: Refused = { specifiers: CLIENTS, folders: String.raw`ioredis\d*|iovalkey|redis\d*|@redis|@ioredis|@iovalkey`, message: 'a Redis client was loaded' };
const load = (how: 'import' | 'require', entry: string) => loadRefusing(REFUSED, how, entry, root);

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
