// A child process for the multi-process tests: connects, says 'ready', and on 'go' runs requests
// against a shared Redis bucket for `durationMs`, then reports what it was given, and when, and
// exits.
//
// Run with `node --import tsx`; the parent sends one HammerJob over IPC.

import { Redis } from 'ioredis';
import type { SupportedRedisClient } from '../../../src/redis/client.js';
import { RateLimitExceeded, RedisTokenBucket, createRedisBucketHierarchy } from '../../../src/redis.js';

/**
 * Milliseconds on the machine's monotonic clock (CLOCK_MONOTONIC), the same timeline in every
 * process: the parent puts the reports of several processes on one time axis.
 */
const machineNow = (): number => Number(process.hrtime.bigint()) / 1e6;

/**
 * A stretch longer than this (ms) between two answers a process gets is recorded as idle: on a
 * busy machine the process (or Redis) was not running, and nothing was asked of the bucket.
 * Shorter ones cost the tests' buckets nothing: at 200 tokens/s a bucket of 20 earns 2 in 10 ms,
 * and the next requests take them.
 */
const IDLE_GAP = 10;

export interface HammerJob {
  url: string;
  /** The client library this process uses (its package name; default 'ioredis'). */
  client?: 'ioredis' | 'redis' | 'redis5' | 'iovalkey';
  durationMs: number;
  /** `consume`: non-blocking consume(n) in a loop; `acquire`: acquire(n) in a loop (waiting its turn). */
  mode: 'consume' | 'acquire';
  n: number;
  /** acquire's `maxWait` (ms): the server refuses a request it would make wait longer. Default: none. */
  maxWait?: number;
  /** One bucket... */
  bucket?: { key: string; capacity: number; fillRate: number };
  /** ...or a hierarchy, whose `leaves` this process picks from in turn. */
  hierarchy?: { prefix: string; config: { name: string; capacity: number; fillRate: number; children: { name: string; capacity: number; fillRate: number }[] }; leaves: string[] };
}

export interface HammerReport {
  /** Tokens admitted per bucket name ('bucket' for a single bucket). */
  admitted: Record<string, number>;
  calls: number;
  errors: string[];
  /** Each acquire's wait in ms, as this process saw it (acquire mode). */
  waits: number[];
  /** The wait the server gave as its reason for each acquire it refused (`retryAfter`, ms). */
  refused: number[];
  /** When this process made its first request, and when its last one was answered ({@link machineNow}). */
  start: number;
  end: number;
  /**
   * Stretches of more than {@link IDLE_GAP} ms between two answers, within [start, end]
   * ({@link machineNow}). In consume mode every request is answered at once, so these are the
   * times the process was not asking; in acquire mode they include its waits.
   */
  idle: [number, number][];
}

function run(job: HammerJob, redis: SupportedRedisClient): () => Promise<HammerReport> {
  const report: HammerReport = { admitted: {}, calls: 0, errors: [], waits: [], refused: [], start: 0, end: 0, idle: [] };
  type Target = { name: string; consume(n: number): Promise<boolean>; acquire(n: number): Promise<void> };
  const acquireOptions = job.maxWait === undefined ? undefined : { maxWait: job.maxWait };
  let targets: Target[];
  if (job.bucket !== undefined) {
    const b = new RedisTokenBucket({ redis, ...job.bucket });
    targets = [{ name: 'bucket', consume: (n) => b.consume(n), acquire: (n) => b.acquire(n, acquireOptions) }];
  } else {
    const h = job.hierarchy!;
    const buckets = createRedisBucketHierarchy({ redis, prefix: h.prefix, ...h.config });
    targets = h.leaves.map((name) => ({ name, consume: (n) => buckets[name]!.consume(n), acquire: (n) => buckets[name]!.acquire(n, acquireOptions) }));
  }
  return async () => {
    report.start = machineNow();
    let answered = report.start;
    const end = performance.now() + job.durationMs;
    let i = 0;
    while (performance.now() < end) {
      const t = targets[i++ % targets.length]!;
      report.calls++;
      try {
        if (job.mode === 'consume') {
          if (await t.consume(job.n)) report.admitted[t.name] = (report.admitted[t.name] ?? 0) + job.n;
        } else {
          const t0 = performance.now();
          await t.acquire(job.n);
          // Counted only if earned within the window: the parent bounds the window's admissions.
          if (performance.now() <= end) {
            report.waits.push(performance.now() - t0);
            report.admitted[t.name] = (report.admitted[t.name] ?? 0) + job.n;
          }
        }
      } catch (error) {
        if (error instanceof RateLimitExceeded) report.refused.push(error.retryAfter);
        else report.errors.push(String(error));
      }
      const now = machineNow();
      if (now - answered > IDLE_GAP) report.idle.push([answered, now]);
      answered = now;
    }
    report.end = answered;
    return report;
  };
}

/** A connected client of the job's library, and how to close it. */
async function connect(job: HammerJob): Promise<{ redis: SupportedRedisClient; close(): void }> {
  if (job.client === 'redis' || job.client === 'redis5') {
    // Each major's own createClient, seen through what both share.
    const client = job.client === 'redis' ? (await import('redis')).createClient({ url: job.url }) : (await import('redis5')).createClient({ url: job.url });
    const connection = client as unknown as { on(event: 'error', listener: () => void): unknown; connect(): Promise<unknown>; destroy(): unknown };
    connection.on('error', () => {});
    await connection.connect();
    return { redis: client, close: () => void connection.destroy() };
  }
  const Client = job.client === 'iovalkey' ? (await import('iovalkey')).Redis : Redis;
  const client = new Client(job.url);
  client.on('error', () => {});
  await client.ping();
  return { redis: client, close: () => client.disconnect() };
}

process.once('message', (job: HammerJob) => {
  void connect(job).then(({ redis, close }) => {
    const go = run(job, redis);
    process.once('message', () => {
      void go().then((report) => {
        process.send!(report, () => {
          close();
          process.exit(0);
        });
      });
    });
    process.send!('ready');
  });
});
