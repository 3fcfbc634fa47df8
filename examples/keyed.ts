// Per-client limits with one KeyedTokenBucket: every API key gets its own bucket with
// 10 requests per second AND 1,000 per hour, created on first use and forgotten once full again.
import { KeyedTokenBucket, RateLimitExceeded } from 'bucketflow';

const perKey = new KeyedTokenBucket({
  limits: [
    { capacity: 10, fillRate: 10 }, // 10 per second, bursts of 10
    { capacity: 1000, fillRate: 1000 / 3600 }, // 1,000 per hour
  ],
  maxKeys: 100_000, // hard bound: past it, the least recently used key is forgotten
});

function handle(apiKey: string): number {
  return perKey.consume(apiKey) ? 200 : 429;
}

const burst = Array.from({ length: 12 }, () => handle('key-alice'));
console.log('alice, 12 requests at once:', burst.join(' ')); // ten 200s, then two 429s
console.log('bob is not slowed by alice:', handle('key-bob')); // 200
console.log('alice can retry in about', Math.round(perKey.timeUntil('key-alice') / 10) * 10, 'ms'); // 100

// Waiting instead of refusing: resolves when alice's next token is earned (about 100 ms).
await perKey.acquire('key-alice', 1, { maxWait: 1000 });
console.log('alice got a token by waiting');

// All or nothing: with 5 per second and 8 per minute, a refused request charges neither limit,
// and the wait reported is the longest of the two.
const small = new KeyedTokenBucket({ limits: [{ capacity: 5, fillRate: 5 }, { capacity: 8, fillRate: 8 / 60 }] });
small.consume('dave', 5); // the per-second limit is empty; 3 of the minute's 8 are left
console.log('dave asks for 3 more:', small.consume('dave', 3)); // false: nothing is taken from either limit
try {
  await small.acquire('dave', 4, { maxWait: 0 });
} catch (error) {
  if (!(error instanceof RateLimitExceeded)) throw error;
  // 4 tokens: 0.8 s for the per-second limit, 7.5 s for the per-minute one.
  console.log(`dave's 4 tokens: retry after ${(error.retryAfter / 1000).toFixed(1)} s`);
}
console.log('keys remembered:', perKey.size + small.size);
