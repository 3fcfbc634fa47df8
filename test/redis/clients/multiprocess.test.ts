// Processes on different client libraries sharing one Redis bucket: the bound holds whichever
// library each process uses, since every decision is the same script on the server.

import { expect, it } from 'vitest';
import { describeRedis, redisUrl, uniqueKey } from '../helpers/env.js';
import type { HammerJob } from '../helpers/hammer.js';
import { DURATION, askingSeconds, runHammers, sum, windowSeconds } from '../helpers/run-hammers.js';

describeRedis('one Redis bucket shared by processes on ioredis, node-redis and iovalkey', 'shared', () => {
  it('2 processes on ioredis and 2 on node-redis (6 and 5) never get more than capacity + fillRate x elapsed, nearly all it earned', async () => {
    const bucket = { key: uniqueKey('mixed'), capacity: 20, fillRate: 200 };
    const clients = ['ioredis', 'ioredis', 'redis', 'redis5'] as const;
    const reports = await runHammers(clients.map((client): HammerJob => ({ url: redisUrl, client, durationMs: DURATION, mode: 'consume', n: 1, bucket })));
    expect(reports.flatMap((r) => r.errors)).toEqual([]);
    const admitted = sum(reports, 'bucket');
    const [window, asking] = [windowSeconds(reports), askingSeconds(reports)];
    console.log(`mixed clients: ${reports.map((r, i) => `${clients[i]} ${r.admitted.bucket ?? 0}/${r.calls}`).join(', ')} in ${(window * 1000).toFixed(0)} ms (bound ${(20 + 200 * window).toFixed(0)})`);
    // Every process was served: each library really took part.
    for (const r of reports) expect(r.admitted.bucket ?? 0).toBeGreaterThan(0);
    expect(reports.reduce((s, r) => s + r.calls, 0)).toBeGreaterThan(admitted * 2);
    expect(admitted).toBeLessThanOrEqual(bucket.capacity + bucket.fillRate * window + 1);
    expect(admitted).toBeGreaterThanOrEqual(0.9 * (bucket.capacity + bucket.fillRate * asking));
  }, 30_000);

  it('a process on iovalkey waiting its turn for 10 while node-redis and ioredis processes ask for 1 is served in turn, within the bound', async () => {
    const bucket = { key: uniqueKey('mixed-fair'), capacity: 10, fillRate: 100 };
    const turn = ((10 + 3) * 1000) / bucket.fillRate + 0.1; // as in multiprocess.test.ts
    const job = (client: HammerJob['client'], n: number, maxWait?: number): HammerJob => ({ url: redisUrl, client, durationMs: DURATION, mode: 'acquire', n, maxWait, bucket });
    const reports = await runHammers([job('iovalkey', 10, turn), job('redis', 1), job('redis5', 1), job('ioredis', 1)]);
    expect(reports.flatMap((r) => r.errors)).toEqual([]);
    expect(reports[0]!.refused).toEqual([]);
    const total = sum(reports, 'bucket');
    expect(total).toBeLessThanOrEqual(bucket.capacity + bucket.fillRate * windowSeconds(reports) + 1);
    expect(reports[0]!.admitted.bucket ?? 0).toBeGreaterThan(0.5 * total);
  }, 30_000);
});
