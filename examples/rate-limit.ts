// rateLimit() as a higher-order function (BucketFlow's "Decorator Usage").
import { AsyncTokenBucket, RateLimitExceeded, rateLimit } from 'bucketflow';

// 2 calls per second, bursts of up to 5. Calls beyond that wait their turn.
const apiRequest = rateLimit({ tokensPerSecond: 2, capacity: 5 })(async (path: string) => {
  return `GET ${path}`;
});
console.log(await apiRequest('/users'));

// block: false refuses at once with RateLimitExceeded instead of waiting.
const limitedFunction = rateLimit({ tokensPerSecond: 1, block: false })(() => 'done');
console.log(await limitedFunction());
try {
  await limitedFunction();
} catch (error) {
  if (error instanceof RateLimitExceeded) console.log(`refused, retry in ${Math.ceil(error.retryAfter)} ms`);
}

// Several functions can share one bucket; `tokens` is what each call costs.
const shared = new AsyncTokenBucket({ capacity: 10, fillRate: 5 });
const search = rateLimit({ bucket: shared, tokens: 2 })(async (q: string) => `results for ${q}`);
const lookup = rateLimit({ bucket: shared, maxWait: 1000 })(async (id: number) => `item ${id}`);
console.log(await search('tokens'), '|', await lookup(42));
