import type { Clock } from '../clock.js';

/**
 * The clock every thread of the process agrees on: `performance.now()` counts from a time origin
 * of its own thread (a worker's starts when the worker does), so each thread adds the offset
 * between its `performance.now()` and `process.hrtime` (CLOCK_MONOTONIC, one timeline for the
 * whole machine), measured once per thread. Milliseconds, monotonic.
 */
let offset: number | undefined;
export const threadSharedClock: Clock = {
  now(): number {
    offset ??= measureOffset();
    return performance.now() + offset;
  },
};

/**
 * `process.hrtime` minus `performance.now()`, with hrtime read between two `performance.now()`
 * calls; of several tries the tightest pair wins. One try alone is off by as long as the thread
 * was descheduled between its reads, and threads whose clocks disagree admit more than the rate
 * allows (by the rate times the disagreement); the tightest of 16 is off by well under a
 * microsecond.
 */
function measureOffset(): number {
  const hrtime = (globalThis as { process?: { hrtime?: { bigint?: () => bigint } } }).process?.hrtime;
  if (typeof hrtime?.bigint !== 'function') {
    throw new TypeError('threadSharedClock needs process.hrtime (Node.js, Deno, Bun) to put every thread on one '
      + 'timeline, and this runtime has none; give the SharedTokenBucket a clock that all threads sharing it agree on');
  }
  let tightest = Infinity;
  let result = 0;
  for (let i = 0; i < 16; i++) {
    const before = performance.now();
    const hr = Number(hrtime.bigint()) / 1e6;
    const after = performance.now();
    if (after - before < tightest) {
      tightest = after - before;
      result = hr - (before + after) / 2;
    }
  }
  return result;
}
