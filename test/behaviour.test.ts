import { AsyncTokenBucket, HierarchicalTokenBucket, ManualClock, TokenBucket, type Clock } from '../src/index.js';
import type { CaseBucket, CaseDriver, CaseLimit, CaseOptions } from './cases/behaviour-cases.js';
import { runBehaviourCases } from './cases/run-cases.js';

function manualDriver(name: string, canBlock: boolean, make: (limit: CaseLimit, clock: Clock, options: CaseOptions) => CaseBucket): CaseDriver {
  let clock = new ManualClock();
  return {
    name,
    canBlock,
    slackMs: 0,
    create(limit, options) {
      clock = new ManualClock();
      return make(limit, clock, options);
    },
    async advance(ms) {
      clock.advance(ms);
    },
  };
}

runBehaviourCases(manualDriver('TokenBucket', false, (limit, clock, options) => {
  const b = new TokenBucket({ ...limit, ...options, clock });
  return { consume: async (n, o) => b.consume(n, o), acquire: (n, o) => b.acquire(n, o), tokens: () => b.tokens, penalize: (n) => b.penalize(n), reward: (n) => b.reward(n), setLimits: (l) => b.setLimits(l) };
}));

runBehaviourCases(manualDriver('AsyncTokenBucket', true, (limit, clock, options) => {
  const b = new AsyncTokenBucket({ ...limit, ...options, clock });
  return { consume: (n, o) => b.consume(n, o), acquire: (n, o) => b.acquire(n, o), tokens: () => b.tokens, penalize: (n) => b.penalize(n), reward: (n) => b.reward(n), setLimits: (l) => b.setLimits(l) };
}));

runBehaviourCases(manualDriver('TokenBucket with a second, looser limit', false, (limit, clock, options) => {
  const b = new TokenBucket({ limits: [limit, { capacity: 1000, fillRate: 1000 }], ...options, clock });
  return { consume: async (n, o) => b.consume(n, o), acquire: (n, o) => b.acquire(n, o), tokens: () => b.tokens, penalize: (n) => b.penalize(n), reward: (n) => b.reward(n), setLimits: (l) => b.setLimits({ limits: [l, { capacity: 1000, fillRate: 1000 }] }) };
}));

runBehaviourCases(manualDriver('HierarchicalTokenBucket (leaf under a roomy root)', false, (limit, clock, options) => {
  const root = new HierarchicalTokenBucket({ name: 'root', capacity: 1000, fillRate: 1000, clock });
  const leaf = new HierarchicalTokenBucket({ ...limit, ...options, name: 'leaf', parent: root });
  return { consume: async (n, o) => leaf.consume(n, o), acquire: (n, o) => leaf.acquire(n, o), tokens: () => leaf.tokens, penalize: (n) => leaf.penalize(n), reward: (n) => leaf.reward(n), setLimits: (l) => leaf.setLimits(l) };
}));
