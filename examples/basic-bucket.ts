// The basic bucket (BucketFlow's "Basic Usage"): consume, several tokens, waiting.
import { TokenBucket } from 'bucketflow';

// A bucket of 10 tokens that refills at 2 tokens per second. It starts full.
const bucket = new TokenBucket({ capacity: 10, fillRate: 2 });

// Take one token: true if it was there; false, taking nothing, if not.
if (bucket.consume()) {
  console.log('processing request');
} else {
  console.log('rate limit exceeded');
}

// Take several tokens at once (all or nothing).
bucket.consume(5);

// Milliseconds until 8 tokens are there (0 if they are, Infinity if never).
console.log(`8 tokens in ${Math.round(bucket.timeUntil(8))} ms`);

// Wait until the tokens are there. `block: true` blocks the whole thread while it waits;
// `acquire()` waits without blocking the event loop (prefer it in servers).
bucket.consume(3, { block: true });
await bucket.acquire(2); // 1 token left: waits about half a second for the second one
console.log(`left: ${bucket.tokens.toFixed(2)} tokens`);
