// A child process for the multi-process tests: connects, says 'ready', and on 'go' runs requests
// against a shared Redis bucket for `durationMs`, then reports what it was given and exits.
//
// Run with `node --import tsx`; the parent sends one HammerJob over IPC.

import { Redis } from 'ioredis';
import { RedisTokenBucket, createRedisBucketHierarchy } from '../../../src/redis.js';

export interface HammerJob {
  url: string;
  durationMs: number;
  /** `consume`: non-blocking consume(n) in a loop; `acquire`: acquire(n) in a loop (waiting its turn). */
  mode: 'consume' | 'acquire';
  n: number;
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
  /** Each acquire's wait in ms (acquire mode). */
  waits: number[];
}

function run(job: HammerJob, redis: Redis): () => Promise<HammerReport> {
  const report: HammerReport = { admitted: {}, calls: 0, errors: [], waits: [] };
  type Target = { name: string; consume(n: number): Promise<boolean>; acquire(n: number): Promise<void> };
  let targets: Target[];
  if (job.bucket !== undefined) {
    const b = new RedisTokenBucket({ redis, ...job.bucket });
    targets = [{ name: 'bucket', consume: (n) => b.consume(n), acquire: (n) => b.acquire(n) }];
  } else {
    const h = job.hierarchy!;
    const buckets = createRedisBucketHierarchy({ redis, prefix: h.prefix, ...h.config });
    targets = h.leaves.map((name) => ({ name, consume: (n) => buckets[name]!.consume(n), acquire: (n) => buckets[name]!.acquire(n) }));
  }
  return async () => {
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
        report.errors.push(String(error));
      }
    }
    return report;
  };
}

process.once('message', (job: HammerJob) => {
  const redis = new Redis(job.url);
  redis.on('error', () => {});
  const go = run(job, redis);
  void redis.ping().then(() => {
    process.once('message', () => {
      void go().then((report) => {
        process.send!(report, () => {
          redis.disconnect();
          process.exit(0);
        });
      });
    });
    process.send!('ready');
  });
});
