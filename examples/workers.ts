// One SharedTokenBucket used by four worker_threads at once: the bucket lives in a
// SharedArrayBuffer, each worker attaches to it from its handle, and together they never get
// more than capacity + fillRate × elapsed.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { once } from 'node:events';
import { RateLimitExceeded, SharedTokenBucket } from 'bucketflow';

const RUN_MS = 500;

/** Starts a worker on this same file, handing it the bucket's shared memory. */
function startWorker(handle: SharedArrayBuffer): Worker {
  const self = new URL(import.meta.url);
  // Run from source (tsx), the worker goes through a small loader; compiled, it starts on this file.
  if (self.pathname.endsWith('.ts')) return new Worker(new URL('./tsx-worker.mjs', self), { argv: [self.href], workerData: handle });
  return new Worker(self, { workerData: handle });
}

if (isMainThread) {
  const bucket = new SharedTokenBucket({ capacity: 10, fillRate: 100 }); // 100 per second, bursts of 10
  const workers = Array.from({ length: 4 }, () => startWorker(bucket.handle));
  await Promise.all(workers.map((w) => once(w, 'message'))); // each says it is ready
  const started = performance.now();
  for (const w of workers) w.postMessage('go');
  const counts = (await Promise.all(workers.map((w) => once(w, 'message')))).map(([n]) => n as number);
  const seconds = (performance.now() - started) / 1000;
  const total = counts.reduce((a, b) => a + b, 0);
  console.log(`workers got ${counts.join(' + ')} = ${total} tokens in ${seconds.toFixed(2)} s;`,
    `the bucket allows at most 10 + 100/s × ${seconds.toFixed(2)} s = ${Math.floor(10 + 100 * seconds)}`);
} else {
  const bucket = SharedTokenBucket.from(workerData as SharedArrayBuffer);
  parentPort!.postMessage('ready');
  await once(parentPort!, 'message');
  const end = performance.now() + RUN_MS;
  let got = 0;
  for (;;) {
    try {
      await bucket.acquire(1, { maxWait: Math.max(0, end - performance.now()) });
      got++;
    } catch (error) {
      if (error instanceof RateLimitExceeded) break; // the next token would come after our time is up
      throw error;
    }
  }
  parentPort!.postMessage(got);
  parentPort!.close();
}
