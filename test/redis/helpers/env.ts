// Which Redis the tests may use, and the rule for when there is none: skip loudly, or fail when
// BUCKETFLOW_REQUIRE_REDIS=1 (CI), so a missing server can never pass as green.

import { describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';

export const redisUrl = inject('redisUrl');
export const redisServerBinary = inject('redisServerBinary');
export const redisPidDir = inject('redisPidDir');
const required = process.env.BUCKETFLOW_REQUIRE_REDIS === '1';

/**
 * `describe` for tests needing Redis: `'shared'` needs the run's Redis (REDIS_URL or a private
 * server), `'binary'` needs `redis-server` to start servers of its own (kill, restart, Cluster).
 */
export function describeRedis(name: string, needs: 'shared' | 'binary', body: () => void): void {
  const ok = needs === 'shared' ? redisUrl !== '' : redisServerBinary;
  if (ok) {
    describe(name, body);
    return;
  }
  const why = needs === 'shared' ? 'no redis-server on PATH and no REDIS_URL' : 'no redis-server on PATH (these tests start their own)';
  if (required) {
    describe(name, () => {
      it('needs Redis (BUCKETFLOW_REQUIRE_REDIS=1)', () => {
        expect.fail(`${why}: install Redis 7 (redis-server, redis-cli) or unset BUCKETFLOW_REQUIRE_REDIS`);
      });
    });
    return;
  }
  console.warn(`\n!!! SKIPPING Redis tests "${name}": ${why}. Set BUCKETFLOW_REQUIRE_REDIS=1 to make this an error. !!!\n`);
  describe.skipIf(true)(`${name} (skipped: ${why})`, body);
}

/** A client to the run's shared Redis; `error` events are expected in fault tests, not fatal. */
export function sharedClient(): Redis {
  const c = new Redis(redisUrl);
  c.on('error', () => {});
  return c;
}

let counter = 0;
/** A key no other test (or earlier run against the same REDIS_URL) uses. */
export function uniqueKey(label: string): string {
  return `bf-test:${process.pid}:${Date.now().toString(36)}:${counter++}:${label}`;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
