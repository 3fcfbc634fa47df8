// Two server processes (one Express, one Fastify) sharing a RedisKeyedTokenBucket on real Redis,
// under a bounded autocannon load: together they admit no more than the bucket earns
// (capacity + fillRate × elapsed, plus one for the request in flight at either edge) and nearly all
// of it. Every client is 127.0.0.1, so both servers charge the same key.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { afterAll, expect, it } from 'vitest';
import { describeRedis, redisUrl, uniqueKey } from '../redis/helpers/env.js';

const app = fileURLToPath(new URL('./helpers/redis-app.ts', import.meta.url));
// A capacity of 2 s of refill: a server stalled by other work on the machine for up to that long
// finds what was earned meanwhile still in the bucket, so the lower bound does not depend on load.
const CAPACITY = 200;
const FILL_RATE = 100;

describeRedis('HTTP servers in two processes sharing a Redis keyed limiter', 'shared', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) if (child.connected) child.disconnect();
  });

  async function start(framework: 'express' | 'fastify', prefix: string): Promise<string> {
    const child = fork(app, [framework, redisUrl, prefix, String(CAPACITY), String(FILL_RATE)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(child);
    const { port } = await new Promise<{ port: number }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { port: number }));
      child.once('exit', (code) => reject(new Error(`${framework} server exited early (${code})`)));
    });
    return `http://127.0.0.1:${port}/`;
  }

  it('admit at most capacity + fillRate x elapsed (+1), and at least 90% of it', async () => {
    const prefix = `${uniqueKey('http-mp')}:`;
    const urls = await Promise.all([start('express', prefix), start('fastify', prefix)]);
    // Bounded: 10 connections and 1,500 requests per second per server, far more than the bucket earns.
    const results = await Promise.all(urls.map((url) => autocannon({ url, connections: 10, overallRate: 1500, duration: 3 })));
    for (const r of results) {
      expect(r.errors).toBe(0);
      expect(r['5xx']).toBe(0);
    }
    const admitted = results.reduce((sum, r) => sum + r['2xx'], 0);
    const asked = results.reduce((sum, r) => sum + r['2xx'] + r['4xx'], 0);
    // The bound counts from the first load's start to the last one's end; the floor only over the
    // time both loads ran (each autocannon starts and stops on its own, and may spend a while
    // connecting or closing while the other is already sending).
    const starts = results.map((r) => r.start.getTime());
    const ends = results.map((r) => r.finish.getTime());
    const earned = CAPACITY + FILL_RATE * ((Math.max(...ends) - Math.min(...starts)) / 1000);
    const surely = CAPACITY + FILL_RATE * ((Math.min(...ends) - Math.max(...starts)) / 1000);
    expect(asked).toBeGreaterThan(2 * earned); // the bucket was asked for far more than it earns
    expect(admitted).toBeLessThanOrEqual(earned + 1);
    expect(admitted).toBeGreaterThanOrEqual(0.9 * surely);
    // Both processes admitted some: the budget is shared, not split.
    for (const r of results) expect(r['2xx']).toBeGreaterThan(0);
  }, 30_000);
});
