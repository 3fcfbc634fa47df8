import { TokenBucket, rateLimit } from 'bucketflow';

const bucket = new TokenBucket({ capacity: 10, fillRate: 2 }); // bursts of 10, then 2 per second
if (bucket.consume()) console.log('request allowed');
else console.log(`rate limited, retry in ${bucket.timeUntil()} ms`);

const fetchUser = rateLimit({ tokensPerSecond: 5 })(async (id: number) => ({ id }));
console.log(await fetchUser(1)); // waits its turn when called faster than 5 times per second
