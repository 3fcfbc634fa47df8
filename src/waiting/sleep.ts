// Synchronous sleeping without burning CPU: Atomics.wait on a private cell nobody notifies
// parks the thread until the timeout. One small buffer for the whole process.
let cell: Int32Array | undefined;

/** Blocks the calling thread for `ms` milliseconds. */
export function sleepSync(ms: number): void {
  if (!(ms > 0)) return;
  cell ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(cell, 0, 0, ms);
}
