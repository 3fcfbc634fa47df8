// Several real processes sharing one Redis bucket (or hierarchy): never more admitted than the
// bucket earns, nearly all of what it earns while asked handed out, and a large request served in
// its turn. Time is what the processes measured (on the machine's clock, from their first request
// to their last answer), and a turn is what the server worked out: a busy machine that starts the
// processes late or stops them now and then moves neither.

import { expect, it } from 'vitest';
import { describeRedis, redisUrl, uniqueKey } from './helpers/env.js';
import type { HammerJob } from './helpers/hammer.js';
import { DURATION, askingSeconds, runHammers, sum, windowSeconds } from './helpers/run-hammers.js';

describeRedis('Redis buckets shared by several processes', 'shared', () => {
  it('4 processes hammering one key never get more than capacity + fillRate x elapsed, and get at least 90% of what it earned while asked', async () => {
    const bucket = { key: uniqueKey('mp'), capacity: 20, fillRate: 200 };
    const reports = await runHammers(Array.from({ length: 4 }, () => ({ url: redisUrl, durationMs: DURATION, mode: 'consume' as const, n: 1, bucket })));
    expect(reports.flatMap((r) => r.errors)).toEqual([]);
    const admitted = sum(reports, 'bucket');
    const calls = reports.reduce((s, r) => s + r.calls, 0);
    const [window, asking] = [windowSeconds(reports), askingSeconds(reports)];
    console.log(`multi-process bucket: ${admitted} admitted of ${calls} calls in ${(window * 1000).toFixed(0)} ms, asked for ${(asking * 1000).toFixed(0)} ms (bound ${(20 + 200 * window).toFixed(0)})`);
    expect(calls).toBeGreaterThan(admitted * 2); // demand really exceeded the rate
    expect(admitted).toBeLessThanOrEqual(bucket.capacity + bucket.fillRate * window + 1);
    expect(admitted).toBeGreaterThanOrEqual(0.9 * (bucket.capacity + bucket.fillRate * asking));
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
    const reports = await runHammers(Array.from({ length: 4 }, () => ({ url: redisUrl, durationMs: DURATION, mode: 'consume' as const, n: 1, hierarchy })));
    expect(reports.flatMap((r) => r.errors)).toEqual([]);
    const slow = sum(reports, 'slow');
    const fast = sum(reports, 'fast');
    const [s, asking] = [windowSeconds(reports), askingSeconds(reports)];
    console.log(`multi-process hierarchy: slow ${slow}, fast ${fast}, root ${slow + fast} in ${(s * 1000).toFixed(0)} ms, asked for ${(asking * 1000).toFixed(0)} ms`);
    expect(slow).toBeLessThanOrEqual(5 + 50 * s + 1);
    expect(fast).toBeLessThanOrEqual(50 + 500 * s + 1);
    expect(slow + fast).toBeLessThanOrEqual(20 + 200 * s + 1);
    // The root is the tightest level for the two leaves together: nearly all it earned is handed out.
    expect(slow + fast).toBeGreaterThanOrEqual(0.9 * (20 + 200 * asking));
  }, 30_000);

  it('a process asking for 10 at a time is served in its turn while 3 others ask for 1', async () => {
    const bucket = { key: uniqueKey('fair'), capacity: 10, fillRate: 100 };
    // Its turn: its own 10 tokens behind at most 3 reserved ones (each other process holds one
    // reservation at most: it asks again only once its tokens are earned), at 100/s: 130 ms, plus
    // a hundredth of a token for float rounding. The server works the wait out when it reserves,
    // from the reservations before it, and refuses instead if it is longer than maxWait: so this
    // is checked in the server's time, whatever a busy machine does to the processes' timers.
    const turn = ((10 + 3) * 1000) / bucket.fillRate + 0.1;
    const job = (n: number, maxWait?: number): HammerJob => ({ url: redisUrl, durationMs: DURATION, mode: 'acquire', n, maxWait, bucket });
    const reports = await runHammers([job(10, turn), job(1), job(1), job(1)]);
    expect(reports.flatMap((r) => r.errors)).toEqual([]);
    const big = reports[0]!;
    const total = sum(reports, 'bucket');
    const bigTokens = big.admitted.bucket ?? 0;
    console.log(`fairness: big got ${bigTokens} of ${total} tokens, ${big.refused.length} refused; longest wait it saw ${Math.max(...big.waits).toFixed(0)} ms (its turn: at most ${turn} ms)`);
    // Never queued behind more than the others' one reservation each.
    expect(big.refused).toEqual([]);
    expect(total).toBeLessThanOrEqual(bucket.capacity + bucket.fillRate * windowSeconds(reports) + 1);
    // Served in turn, it gets about 10 of every 13 tokens, not the crumbs a retry loop would get.
    expect(bigTokens).toBeGreaterThan(0.5 * total);
  }, 30_000);
});
