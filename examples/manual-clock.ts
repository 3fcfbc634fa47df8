// ManualClock: drive waits in tests without real time.
import { AsyncTokenBucket, ManualClock } from 'bucketflow';

const clock = new ManualClock();
const bucket = new AsyncTokenBucket({ capacity: 1, fillRate: 1, initialTokens: 0, clock });

const waiting = bucket.acquire(1); // needs 1000 ms of clock time
clock.advance(1000); // wakes the waiter: no real time passes
await waiting;
console.log(`served at ${clock.now()} ms of clock time`);
