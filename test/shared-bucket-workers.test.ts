// Real worker_threads sharing one SharedTokenBucket: real time is the point here, so bounds are
// computed from the measured elapsed time, and the no-lost-update check counts calls, not time.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { SharedTokenBucket } from '../src/buckets/shared-bucket.js';
import { threadSharedClock } from '../src/buckets/shared-clock.js';

const ENTRY = new URL('./fixtures/ts-worker.mjs', import.meta.url);
const WORKER = new URL('./fixtures/shared-bucket-worker.ts', import.meta.url).href;

interface Report {
  admitted: number;
  refused: number;
  end: number;
  skew?: number;
  /** consume, block, acquire: when the worker started (ms, threadSharedClock). */
  start?: number;
  /** consume, block, acquire: the stretches [from, to] in which the worker was not running. */
  idle?: [number, number][];
}

/** Starts `count` workers on `bucket`, releases them at once, and collects their reports. */
async function hammer(
  bucket: SharedTokenBucket,
  count: number,
  ms: number,
  mode: 'consume' | 'block' | 'acquire' | 'clock' | 'pingpong' | 'race',
  extra: { pingpong?: SharedArrayBuffer; rounds?: number; progress?: SharedArrayBuffer; calls?: number; workers?: number } = {},
) {
  const start = new SharedArrayBuffer(4);
  const workers: Worker[] = [];
  const ready: Promise<void>[] = [];
  const reports: Promise<Report>[] = [];
  // Workers start slowly (each loads tsx): the window opens only once all of them are waiting.
  const until = new Float64Array(new SharedArrayBuffer(8));
  for (let i = 0; i < count; i++) {
    const w = new Worker(ENTRY, { workerData: { module: WORKER, handle: bucket.handle, start, untilCell: until.buffer, mode, ...extra } });
    workers.push(w);
    ready.push(new Promise((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    }));
    reports.push(new Promise((resolve, reject) => {
      w.on('message', (m: Report | { ready: true }) => { if ('admitted' in m) resolve(m); });
      w.once('error', reject);
    }));
  }
  await Promise.all(ready);
  const t0 = threadSharedClock.now();
  until[0] = t0 + ms;
  Atomics.store(new Int32Array(start), 0, 1);
  Atomics.notify(new Int32Array(start), 0);
  const results = await Promise.all(reports);
  await Promise.all(workers.map((w) => w.terminate()));
  return { t0, results };
}

/**
 * Milliseconds, from the first worker's start to the last one's end, in which what the bucket
 * earned was there for a worker to take. A running worker empties the bucket at once (it calls in
 * a tight loop or holds a reservation), so the bucket loses tokens only when no worker runs for
 * longer than it takes to fill up (`fillMs`), as on a busy machine: what such a stretch earns past
 * that is not counted.
 */
function earningMs(results: Report[], fillMs: number): number {
  const running: [number, number][] = [];
  for (const r of results) {
    let from = r.start!;
    for (const [idleFrom, idleTo] of r.idle!) {
      if (idleFrom > from) running.push([from, idleFrom]);
      from = idleTo;
    }
    if (r.end > from) running.push([from, r.end]);
  }
  running.sort((a, b) => a[0] - b[0]);
  let lost = 0;
  let until = running[0]![1];
  for (const [from, to] of running) {
    if (from > until) lost += Math.max(0, from - until - fillMs); // nobody ran from `until` to `from`
    until = Math.max(until, to);
  }
  return until - running[0]![0] - lost;
}

describe('SharedTokenBucket across worker_threads', () => {
  // Waiting is the point of these modes, so each gets its own window; the upper bound counts from
  // the start signal (the bucket holds at most `capacity` then) to the last worker's end, the
  // lower one the time in which what the bucket earned could be taken.
  const cases = [
    { mode: 'consume', ms: 1000, fillRate: 2000 },
    { mode: 'block', ms: 500, fillRate: 2000 },
    { mode: 'acquire', ms: 500, fillRate: 1000 },
  ] as const;
  for (const { mode, ms, fillRate } of cases) {
    it(`4 workers (${mode}) never admit more than capacity + fillRate × elapsed, and take at least 90% of what they could`, async () => {
      // A deep bucket (0.25 s of refill) so a worker descheduled on a busy machine loses no tokens.
      const capacity = fillRate / 4;
      const bucket = new SharedTokenBucket({ capacity, fillRate });
      const { t0, results } = await hammer(bucket, 4, ms, mode);
      const end = Math.max(...results.map((r) => r.end));
      const admitted = results.reduce((sum, r) => sum + r.admitted, 0);
      const bound = capacity + (fillRate * (end - t0)) / 1000;
      // Threads' clocks agree to well under 1 µs (threadSharedClock): that much slack, no more.
      expect(admitted).toBeLessThanOrEqual(bound + fillRate * 0.001 / 1000 + 1e-6);
      expect(admitted).toBeGreaterThanOrEqual(0.9 * (capacity + (fillRate * earningMs(results, (1000 * capacity) / fillRate)) / 1000));
      // Every worker took part (how many tokens each won is up to the scheduler of a 2-core machine).
      for (const r of results) expect(r.admitted + r.refused).toBeGreaterThan(0);
      expect(results.filter((r) => r.admitted > 0).length).toBeGreaterThanOrEqual(2);
    }, 30_000);
  }

  it('every thread reads the same timeline from threadSharedClock (performance.now() alone differs per thread)', async () => {
    const bucket = new SharedTokenBucket({ capacity: 1, fillRate: 1 });
    const { t0, results } = await hammer(bucket, 2, 0, 'clock');
    const received = threadSharedClock.now();
    for (const r of results) {
      expect(r.end).toBeGreaterThanOrEqual(t0 - 1);
      expect(r.end).toBeLessThanOrEqual(received + 1);
    }
  }, 30_000);

  it('a reading taken after another thread\'s is never earlier (the clocks agree within a handover, a few µs)', async () => {
    const rounds = 2000;
    const pingpong = new SharedArrayBuffer(16);
    const turn = new Int32Array(pingpong, 0, 1);
    const time = new Float64Array(pingpong, 8, 1);
    turn[0] = 2;
    const bucket = new SharedTokenBucket({ capacity: 1, fillRate: 1 });
    const running = hammer(bucket, 1, 0, 'pingpong', { pingpong, rounds });
    let skew = -Infinity; // the most this thread's clock was found behind the worker's
    for (let i = 0; i < rounds; i++) {
      time[0] = threadSharedClock.now();
      Atomics.store(turn, 0, 1);
      Atomics.notify(turn, 0);
      // This thread blocks here without its event loop; the pingpong worker needs neither it nor
      // the start signal.
      while (Atomics.load(turn, 0) !== 2) Atomics.wait(turn, 0, 1, 50);
      skew = Math.max(skew, time[0]! - threadSharedClock.now());
    }
    const [report] = (await running).results;
    // A handover takes ~1–5 µs, so a clock more than that behind the other's shows up here.
    expect(report!.skew).toBeLessThan(0);
    expect(skew).toBeLessThan(0);
  }, 30_000);

  it('loses no update: what 4 racing workers took is exactly what the shared level lost', async () => {
    // A quota that never runs out, so every call races the others for the lock and takes a token;
    // its levels are integers far below 2^53, exact in a double.
    const quota = 2 ** 40;
    const calls = 20_000;
    const bucket = new SharedTokenBucket({ capacity: quota, fillRate: 0 });
    const progress = new SharedArrayBuffer(4);
    const { results } = await hammer(bucket, 4, 0, 'race', { progress, calls, workers: 4 });
    // Every worker took part: it made its calls while all the others were still making theirs.
    for (const r of results) {
      expect(r.refused).toBe(0);
      expect(r.admitted).toBeGreaterThanOrEqual(calls);
    }
    // An update lost to a race (two threads taking from the same level) would leave the level
    // higher than what was handed out says.
    const admitted = results.reduce((sum, r) => sum + r.admitted, 0);
    expect(quota - bucket.tokens).toBe(admitted);
  }, 30_000);
});
