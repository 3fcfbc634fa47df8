// Timing loops shared by every contender, so each is measured the same way: calls in batches
// between clock reads (a clock read costs about as much as the call being measured), a warm-up
// so the JIT has optimised the call site, and a check that every call took the path the row names.

declare const gc: (() => void) | undefined;

/** What one child process reports for one row and contender. */
export type Metrics = Record<string, number>;

/** How long to warm up and to measure, in ms. */
export interface Timing {
  warmMs: number;
  measureMs: number;
}

const BATCH = 4096;

/** Allow path expects every call to return true, reject path every call false. */
export function syncLoop(op: () => boolean, expect: boolean, { warmMs, measureMs }: Timing): Metrics {
  let wrong = 0;
  const run = (ms: number): { calls: number; elapsed: number } => {
    let calls = 0;
    const start = performance.now();
    let elapsed = 0;
    do {
      for (let i = 0; i < BATCH; i++) if (op() !== expect) wrong++;
      calls += BATCH;
      elapsed = performance.now() - start;
    } while (elapsed < ms);
    return { calls, elapsed };
  };
  run(warmMs);
  wrong = 0; // only the measured calls must all take the row's path
  const { calls, elapsed } = run(measureMs);
  if (wrong > 0) throw new Error(`${wrong} calls returned ${!expect}, expected ${expect}`);
  return { opsPerSec: (calls / elapsed) * 1000, nsPerOp: (elapsed * 1e6) / calls };
}

/**
 * One caller awaiting each call in turn, as an async limiter must be used. `expect` true: every
 * promise must resolve; false: every one must reject (how a refusal arrives from such limiters).
 */
export async function asyncLoop(op: () => Promise<unknown>, expect: boolean, { warmMs, measureMs }: Timing): Promise<Metrics> {
  let wrong = 0;
  const run = async (ms: number): Promise<{ calls: number; elapsed: number }> => {
    let calls = 0;
    const start = performance.now();
    let elapsed = 0;
    do {
      for (let i = 0; i < BATCH; i++) {
        let ok: boolean;
        try {
          await op();
          ok = true;
        } catch (error) {
          if (error instanceof Error) throw error; // a real failure, not a refusal
          ok = false;
        }
        if (ok !== expect) wrong++;
      }
      calls += BATCH;
      elapsed = performance.now() - start;
    } while (elapsed < ms);
    return { calls, elapsed };
  };
  await run(warmMs);
  wrong = 0;
  const { calls, elapsed } = await run(measureMs);
  if (wrong > 0) throw new Error(`${wrong} calls ${expect ? 'were refused' : 'were admitted'}`);
  return { opsPerSec: (calls / elapsed) * 1000, nsPerOp: (elapsed * 1e6) / calls };
}

/**
 * `concurrency` callers started together, each doing `release(await acquire())` in turn: a
 * limiter of concurrency shared by concurrent tasks. Reports acquire+release pairs per second over
 * all callers. A caller reads the clock after each batch of pairs, and doubles the batch while one
 * takes under a millisecond: a fast pair is not drowned by clock reads, and a limiter that waits
 * on timers (milliseconds per pair) does not run seconds past the window.
 */
export async function pairLoop<T>(
  acquire: () => Promise<T>, release: (held: T) => unknown, concurrency: number, { warmMs, measureMs }: Timing,
): Promise<Metrics> {
  const run = async (ms: number): Promise<{ calls: number; elapsed: number }> => {
    let calls = 0;
    const start = performance.now();
    const end = start + ms;
    const caller = async (): Promise<void> => {
      let batch = 1;
      let t = start;
      while (t < end) {
        for (let i = 0; i < batch; i++) release(await acquire());
        calls += batch;
        const now = performance.now();
        if (now - t < 1 && batch < BATCH) batch *= 2;
        t = now;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, caller));
    return { calls, elapsed: performance.now() - start };
  };
  await run(warmMs);
  const { calls, elapsed } = await run(measureMs);
  return { opsPerSec: (calls / elapsed) * 1000, nsPerOp: (elapsed * 1e6) / calls };
}

/**
 * Memory in use after full collections (needs `node --expose-gc`): the V8 heap plus ArrayBuffer
 * backing stores, which live outside it (a typed array's contents are not in `heapUsed`).
 */
export function settledHeap(): number {
  if (typeof gc !== 'function') throw new Error('run the bench child with node --expose-gc');
  for (let i = 0; i < 3; i++) gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** Live timers of this process (Node's own count, not ours). */
export function liveTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/** The p-th percentile (0..100) of `values` (sorted in place). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  values.sort((a, b) => a - b);
  const i = Math.min(values.length - 1, Math.max(0, Math.ceil((p / 100) * values.length) - 1));
  return values[i]!;
}
