// examples/redis.ts (and the semaphore and node-redis ones, whose code the README shows) run against
// the test Redis with the output their comments promise.
// (examples/redis-cluster.ts is run by cluster.test.ts, which has a cluster.)
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { describeRedis, redisUrl } from './helpers/env.js';

const root = new URL('../../', import.meta.url);

describe('examples/redis*.ts', () => {
  it('are not run by npm run example (which needs no Redis)', () => {
    expect(readFileSync(new URL('examples/run-all.ts', root), 'utf8')).not.toMatch(/'redis/);
  });
});

describeRedis('examples/redis.ts', 'shared', () => {
  it('runs against a real Redis and prints what its comments say', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/redis.ts'], {
      cwd: root, timeout: 20_000, env: { ...process.env, REDIS_URL: redisUrl },
    });
    expect(stdout).toContain('12 requests at once: 200 200 200 200 200 200 200 200 200 200 429 429');
    // Rounded to 10 ms and 100 ms; a loaded machine delays the calls after the burst a little.
    expect(stdout).toMatch(/retry after about (1[0-9]0|200|210) ms/);
    expect(stdout).toMatch(/acquire\(2\) waited about (300|400|500) ms/);
    expect(stdout).toContain('insured consume: true');
    expect(stdout).toContain('alice x4: true true true false | bob: true');
    expect(stdout).toContain('search 3: true | upload 2: false | upload 1: true');
    expect(stdout).toMatch(/search key: example:\d+:\{api\}:search/);
  }, 30_000);
});

describeRedis('examples/redis-semaphore.ts', 'shared', () => {
  it('runs against a real Redis and prints what its comments say', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/redis-semaphore.ts'], {
      cwd: root, timeout: 20_000, env: { ...process.env, REDIS_URL: redisUrl },
    });
    expect(stdout).toContain('in use: 2 | tryAcquire: undefined');
    expect(stdout).toContain('the waiter got the slot released by the other connection');
    expect(stdout).toContain('called the API | in use after run: 0');
  }, 30_000);
});

describeRedis('examples/redis-node-redis.ts', 'shared', () => {
  it('runs on node-redis against a real Redis and prints what its comments say', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/redis-node-redis.ts'], {
      cwd: root, timeout: 20_000, env: { ...process.env, REDIS_URL: redisUrl },
    });
    expect(stdout).toContain('4 requests at once: true true true false');
    expect(stdout).toContain('semaphore handed over, in use: 0');
  }, 30_000);
});
