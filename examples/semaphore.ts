// Semaphore: at most N at once. A rate says how often; many APIs also say how many at once.
// Waiters are served first come, first served; maxWait bounds a wait; `using` releases a lease at
// the end of its scope.
import { RateLimitExceeded, Semaphore, rateLimit } from 'bucketflow';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sem = new Semaphore({ limit: 2 });

let running = 0;
let most = 0;
await Promise.all([1, 2, 3, 4, 5].map(() => sem.run(async () => {
  running++;
  most = Math.max(most, running);
  await sleep(10);
  running--;
})));
console.log('5 jobs, at most', most, 'at once'); // 2

{
  using lease = await sem.acquire(); // released when the block ends, however it ends
  console.log('in use:', sem.inUse, lease.released); // 1 false
}
console.log('in use after the block:', sem.inUse); // 0

const [a, b] = [sem.tryAcquire(), sem.tryAcquire()]; // both slots
try {
  await sem.acquire({ maxWait: 50 });
} catch (error) {
  if (error instanceof RateLimitExceeded) console.log('no slot came free within 50 ms');
}
a?.release();
b?.release();

// As a wrapper: at most 3 renders at once, and no more than 10 starts per second.
const render = rateLimit({ concurrency: 3, tokensPerSecond: 10 })(async (page: string) => `rendered ${page}`);
console.log(await Promise.all(['/', '/about'].map((page) => render(page)))); // [ 'rendered /', 'rendered /about' ]
