// Two server processes (one Express, one Fastify) sharing a RedisKeyedTokenBucket on real Redis,
// under a bounded autocannon load: together they admit no more than the bucket earns
// (capacity + fillRate × elapsed, plus one for the request in flight at either edge) and nearly all
// of what it earns while it is asked. Every client is 127.0.0.1, so both servers charge the same key.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { afterAll, expect, it } from 'vitest';
import { askingMs } from '../redis/helpers/asking.js';
import { describeRedis, redisUrl, uniqueKey } from '../redis/helpers/env.js';

const app = fileURLToPath(new URL('./helpers/redis-app.ts', import.meta.url));
// A capacity of 2 s of refill: a server stalled by other work on the machine for up to that long
// finds what was earned meanwhile still in the bucket, so the lower bound does not depend on load.
const CAPACITY = 200;
const FILL_RATE = 100;

interface ServerReport {
  admitted: number;
  first: number;
  last: number;
  idle: [number, number][];
}

describeRedis('HTTP servers in two processes sharing a Redis keyed limiter', 'shared', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) if (child.connected) child.disconnect();
  });

  async function start(framework: 'express' | 'fastify', prefix: string): Promise<{ url: string; child: ChildProcess }> {
    const child = fork(app, [framework, redisUrl, prefix, String(CAPACITY), String(FILL_RATE)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(child);
    const { port } = await new Promise<{ port: number }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { port: number }));
      child.once('exit', (code) => reject(new Error(`${framework} server exited early (${code})`)));
    });
    return { url: `http://127.0.0.1:${port}/`, child };
  }

  /** What a server's limiter decided (its decision events, on the machine's monotonic clock). */
  function reportOf(child: ChildProcess): Promise<ServerReport> {
    return new Promise((resolve) => {
      child.once('message', (m) => resolve(m as ServerReport));
      child.send('report');
    });
  }

  it('admit at most capacity + fillRate x elapsed (+1), and at least 90% of it', async () => {
    const prefix = `${uniqueKey('http-mp')}:`;
    const servers = await Promise.all([start('express', prefix), start('fastify', prefix)]);
    // Bounded: 10 connections and 1,500 requests per second per server, far more than the bucket earns.
    const results = await Promise.all(servers.map(({ url }) => autocannon({ url, connections: 10, overallRate: 1500, duration: 3 })));
    for (const r of results) {
      expect(r.errors).toBe(0);
      expect(r['5xx']).toBe(0);
    }
    const admitted = results.reduce((sum, r) => sum + r['2xx'], 0);
    const asked = results.reduce((sum, r) => sum + r['2xx'] + r['4xx'], 0);
    // The bound counts from the first load's start to the last one's end: every answer the clients
    // counted was decided within it.
    const starts = results.map((r) => r.start.getTime());
    const ends = results.map((r) => r.finish.getTime());
    const earned = CAPACITY + FILL_RATE * ((Math.max(...ends) - Math.min(...starts)) / 1000);
    expect(asked).toBeGreaterThan(2 * earned); // the bucket was asked for far more than it earns
    expect(admitted).toBeLessThanOrEqual(earned + 1);
    // The floor counts only the time the bucket was being asked, as the servers saw it: a server
    // that starts answering late, or stalls, leaves the bucket full, and a full bucket loses what
    // it earns. Counted by the servers, which also admit the requests still in flight at the end.
    const reports = await Promise.all(servers.map(({ child }) => reportOf(child)));
    const decided = reports.reduce((sum, r) => sum + r.admitted, 0);
    const surely = CAPACITY + FILL_RATE * (askingMs(reports.map((r) => ({ from: r.first, to: r.last, idle: r.idle }))) / 1000);
    console.log(`HTTP two servers: clients counted ${admitted} admitted of at most ${earned.toFixed(1)}; servers decided ${decided}, at least ${(0.9 * surely).toFixed(1)} expected`);
    expect(decided).toBeGreaterThanOrEqual(0.9 * surely);
    // Both processes admitted some: the budget is shared, not split.
    for (const r of results) expect(r['2xx']).toBeGreaterThan(0);
  }, 30_000);
});
