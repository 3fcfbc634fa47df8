// Starts one private redis-server for the whole test run (unless REDIS_URL names one) and hands
// its URL to the test files. Test files that need servers of their own (faults, Cluster) start
// them and record their pids here; teardown kills every one that is left, so no redis-server
// outlives the run even when a test file crashed.

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { RedisServer, haveRedisServer } from './helpers/servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the Redis the tests share ('' when there is none). */
    redisUrl: string;
    /** Whether `redis-server` can be started (for tests that need a server of their own). */
    redisServerBinary: boolean;
    /** Directory where test files record the pids of the servers they start. */
    redisPidDir: string;
    /** The ioredis major that 'ioredis' resolves to in this project (vitest.config.ts: one project per major). */
    ioredisMajor: number;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const pidDir = mkdtempSync(join(tmpdir(), 'bucketflow-redis-pids-'));
  const binary = haveRedisServer();
  let server: RedisServer | undefined;
  let url = process.env.REDIS_URL ?? '';
  if (url === '' && binary) {
    server = await RedisServer.start({ pidDir });
    url = server.url;
  }
  project.provide('redisUrl', url);
  project.provide('redisServerBinary', binary);
  project.provide('redisPidDir', pidDir);
  return async () => {
    await server?.stop();
    for (const pid of readdirSync(pidDir)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(pidDir, { recursive: true, force: true });
  };
}
