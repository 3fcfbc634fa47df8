// AsyncTokenBucket (BucketFlow's "Async Support"): promises, FIFO waiters, AbortSignal.
import { AsyncTokenBucket } from 'bucketflow/async';

const bucket = new AsyncTokenBucket({ capacity: 10, fillRate: 2 });

// Without `block`, consume resolves at once: true (tokens taken) or false (nothing taken).
if (await bucket.consume(5)) console.log('got 5 tokens');

// acquire() waits for the tokens; with maxWait it rejects RateLimitExceeded instead of
// waiting longer than that many milliseconds.
await bucket.acquire(5, { maxWait: 2000 });

// An AbortSignal cancels a wait: the promise rejects with signal.reason, the tokens go back.
const controller = new AbortController();
const waiting = bucket.acquire(5, { signal: controller.signal });
controller.abort(new Error('client went away'));
await waiting.catch((error: Error) => console.log(`wait cancelled: ${error.message}`));

// Waiters are served first come, first served: a small later request never overtakes a large one.
const fast = new AsyncTokenBucket({ capacity: 5, fillRate: 50, initialTokens: 0 });
const order: string[] = [];
await Promise.all([
  fast.acquire(4).then(() => order.push('large (asked first)')),
  fast.acquire(1).then(() => order.push('small (asked second)')),
]);
console.log(order.join(', then '));

// consume with block waits too, and resolves false instead of rejecting when refused.
console.log('blocking consume:', await fast.consume(2, { block: true, maxWait: 1000 }));
