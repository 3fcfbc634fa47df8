// Changing limits while running, per-key tiers, and penalties: on a ManualClock, so the demo
// shows exact numbers without waiting.
import { KeyedTokenBucket, ManualClock, TokenBucket } from 'bucketflow';

const clock = new ManualClock();
const api = new TokenBucket({ capacity: 10, fillRate: 1, initialTokens: 0, clock });
clock.advance(4000); // 4 tokens earned at 1 per second
api.setLimits({ capacity: 3, fillRate: 5 }); // a config reload: smaller bursts, faster refill
console.log(`after setLimits: ${api.tokens} tokens (cut to the new capacity), ${api.fillRate} per second`);

// Tiers: each key's limits come from its plan, asked once when the key's bucket is made.
const plans = { free: { capacity: 5, fillRate: 1 }, pro: { capacity: 50, fillRate: 10 } };
const planOf = (user: string) => (user.startsWith('acme') ? plans.pro : plans.free);
const perUser = new KeyedTokenBucket({ limitsFor: (user) => planOf(user), clock });
console.log('free user, 6 at once:', perUser.consume('bob', 6)); // false: the free plan holds 5
console.log('pro user, 6 at once:', perUser.consume('acme-1', 6)); // true

// Abuse: a penalty puts the key in debt; time pays it back at its refill rate.
perUser.penalize('bob', 10);
console.log(`bob owes ${-perUser.tokens('bob')} tokens, back in ${perUser.timeUntil('bob') / 1000} s`);
