// take(): the whole decision, not just yes or no — what each limit holds after it and how long
// until the same request could pass. What HTTP rate-limit headers are made from.
import { ManualClock, TokenBucket } from 'bucketflow';

const clock = new ManualClock(); // time moves only when told: the figures below are exact
const bucket = new TokenBucket({ limits: [{ capacity: 10, fillRate: 1 }, { capacity: 100, fillRate: 0.01 }], clock });
const d = bucket.take(4);
console.log(d.allowed, d.remaining, d.retryAfter, d.resetAfter); // true 6 0 400000
console.log(d.limits.map((l) => l.resetAfter)); // [ 4000, 400000 ]: each limit full again after
const refused = bucket.take(7);
console.log(refused.allowed, refused.retryAfter); // false 1000: one token short, at 1 per second
