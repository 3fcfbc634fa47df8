// What a limiter decides, published on node:diagnostics_channel: subscribe to log, count or trace
// decisions. While nobody subscribes, nothing is built or sent.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { KeyedTokenBucket, type DecisionEvent } from 'bucketflow';

const perUser = new KeyedTokenBucket({ capacity: 2, fillRate: 1 });
const counts = { allowed: 0, refused: 0 };
const onDecision = (message: unknown) => {
  const { key, allowed } = message as DecisionEvent;
  counts[allowed ? 'allowed' : 'refused']++;
  if (!allowed) console.log(`refused ${key}`); // refused alice
};

subscribe('bucketflow:decision', onDecision);
for (let i = 0; i < 3; i++) perUser.consume('alice');
perUser.consume('bob');
unsubscribe('bucketflow:decision', onDecision);
console.log(counts); // { allowed: 3, refused: 1 }
