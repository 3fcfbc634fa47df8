import { isManual, type Clock } from '../clock.js';
import { manualClockSleep } from '../errors.js';

// Synchronous sleeping without burning CPU: Atomics.wait on a private cell nobody notifies
// parks the thread until the timeout. One small buffer per thread.
let cell: Int32Array | undefined;

// Why this thread cannot block, found once per thread: `null` when it can. Browsers give pages
// SharedArrayBuffer only when cross-origin isolated, and forbid Atomics.wait on the main thread;
// Cloudflare Workers forbid it everywhere.
let blockingRefused: string | null | undefined;

function whyCannotBlock(): string | null {
  if (blockingRefused !== undefined) return blockingRefused;
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics === 'undefined' || typeof Atomics.wait !== 'function') {
    blockingRefused = 'it needs SharedArrayBuffer and Atomics.wait, which this context lacks (a browser page has them only when cross-origin isolated)';
  } else {
    try {
      // Asks for a value the cell does not hold: answers at once where waiting is allowed, throws where it is not.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
      blockingRefused = null;
    } catch {
      blockingRefused = 'this thread may not block with Atomics.wait (a browser\'s main thread, a Cloudflare Worker)';
    }
  }
  return blockingRefused;
}

/** True when the calling thread may park itself with `Atomics.wait`. */
export function threadCanBlock(): boolean {
  return whyCannotBlock() === null;
}

/**
 * Throws, before anything is taken, when a synchronous wait on `clock` could not work: a
 * ManualClock (nothing would advance it), or a thread that may not block.
 */
export function checkCanSleep(clock: Clock): void {
  if (isManual(clock)) throw manualClockSleep();
  const why = whyCannotBlock();
  if (why !== null) throw new TypeError(`consume({ block: true }) cannot wait here: ${why}; use acquire() instead`);
}

/** Blocks the calling thread for `ms` milliseconds (callers ran {@link checkCanSleep} first). */
export function sleepSync(ms: number): void {
  if (!(ms > 0)) return;
  cell ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(cell, 0, 0, ms);
}
