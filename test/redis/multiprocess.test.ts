// Several real processes sharing one Redis bucket (or hierarchy): never more admitted than the
// bucket earns, nearly all of what it earns handed out, and a large request served in its turn.

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { describeRedis, redisUrl, uniqueKey } from './helpers/env.js';
import type { HammerJob, HammerReport } from './helpers/hammer.js';

const hammer = fileURLToPath(new URL('./helpers/hammer.ts', import.meta.url));
const DURATION = 2000;

/** Starts one child per job, lets them all go at once, and returns their reports and the window. */
async function runHammers(jobs: HammerJob[]): Promise<{ reports: HammerReport[]; elapsedMs: number }> {
  const children = jobs.map(() => fork(hammer, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  try {
    await Promise.all(children.map((child, i) => new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`hammer process exited early (${code})`)));
      child.send(jobs[i]!);
    })));
    const reports = children.map((child) => new Promise<HammerReport>((resolve) => child.once('message', (r) => resolve(r as HammerReport))));
    const t0 = performance.now();
    for (const child of children) child.send('go');
    const done = await Promise.all(reports);
    return { reports: done, elapsedMs: performance.now() - t0 };
  } finally {
    for (const child of children) child.removeAllListeners('exit');
    for (const child of children) if (child.exitCode === null) child.kill();
  }
}

const sum = (reports: HammerReport[], name: string) => reports.reduce((s, r) => s + (r.admitted[name] ?? 0), 0);

describeRedis('Redis buckets shared by several processes', 'shared', () => {
  it('4 processes hammering one key never get more than capacity + fillRate x elapsed, and get at least 90% of it', async () => {
    const bucket = { key: uniqueKey('mp'), capacity: 20, fillRate: 200 };
    const { reports, elapsedMs } = await runHammers(Array.from({ length: 4 }, () => ({ url: redisUrl, durationMs: DURATION, mode: 'consume' as const, n: 1, bucket })));
    expect(reports.flatMap((r) => r.errors)).toEqual([]);
    const admitted = sum(reports, 'bucket');
    const calls = reports.reduce((s, r) => s + r.calls, 0);
    console.log(`multi-process bucket: ${admitted} admitted of ${calls} calls in ${elapsedMs.toFixed(0)} ms (bound ${(20 + 200 * elapsedMs / 1000).toFixed(0)})`);
    expect(calls).toBeGreaterThan(admitted * 2); // demand really exceeded the rate
    expect(admitted).toBeLessThanOrEqual(bucket.capacity + bucket.fillRate * elapsedMs / 1000 + 1);
    expect(admitted).toBeGreaterThanOrEqual(0.9 * (bucket.capacity + bucket.fillRate * DURATION / 1000));
  }, 30_000);

  it('4 processes hammering a Redis hierarchy over-admit at no level', async () => {
    const hierarchy = {
      prefix: `${uniqueKey('mph')}:`,
      config: {
        name: 'root', capacity: 20, fillRate: 200,
        children: [{ name: 'slow', capacity: 5, fillRate: 50 }, { name: 'fast', capacity: 50, fillRate: 500 }],
      },
      leaves: ['slow', 'fast'],
    };
    const { reports, elapsedMs } = await runHammers(Array.from({ length: 4 }, () => ({ url: redisUrl, durationMs: DURATION, mode: 'consume' as const, n: 1, hierarchy })));
    expect(reports.flatMap((r) => r.errors)).toEqual([]);
    const slow = sum(reports, 'slow');
    const fast = sum(reports, 'fast');
    const s = elapsedMs / 1000;
    console.log(`multi-process hierarchy: slow ${slow}, fast ${fast}, root ${slow + fast} in ${elapsedMs.toFixed(0)} ms`);
    expect(slow).toBeLessThanOrEqual(5 + 50 * s + 1);
    expect(fast).toBeLessThanOrEqual(50 + 500 * s + 1);
    expect(slow + fast).toBeLessThanOrEqual(20 + 200 * s + 1);
    expect(slow + fast).toBeGreaterThanOrEqual(0.9 * (20 + 200 * DURATION / 1000));
  }, 30_000);

  it('a process asking for 10 at a time is served in its turn while 3 others ask for 1', async () => {
    const bucket = { key: uniqueKey('fair'), capacity: 10, fillRate: 100 };
    const job = (n: number): HammerJob => ({ url: redisUrl, durationMs: DURATION, mode: 'acquire', n, bucket });
    const { reports, elapsedMs } = await runHammers([job(10), job(1), job(1), job(1)]);
    expect(reports.flatMap((r) => r.errors)).toEqual([]);
    const big = reports[0]!;
    const total = sum(reports, 'bucket');
    const bigTokens = big.admitted.bucket ?? 0;
    const longest = Math.max(...big.waits);
    console.log(`fairness: big got ${bigTokens} of ${total} tokens, longest wait ${longest.toFixed(0)} ms (fair: about 130 ms)`);
    expect(total).toBeLessThanOrEqual(bucket.capacity + bucket.fillRate * elapsedMs / 1000 + 1);
    // Its fair wait: its own 10 tokens plus at most one reserved token per other process, at 100/s.
    expect(longest).toBeLessThan(400);
    // Served in turn, it gets about 10 of every 13 tokens, not the crumbs a retry loop would get.
    expect(bigTokens).toBeGreaterThan(0.5 * total);
  }, 30_000);
});
