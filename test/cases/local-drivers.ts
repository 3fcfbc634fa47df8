// The in-memory kinds as drivers of the behaviour table, each bucket on a ManualClock. They take
// the library as a parameter, so the same drivers run on the source under vitest and on the built
// package in other runtimes.
import type * as Bucketflow from '../../src/index.js';
import type { CaseBucket, CaseDriver, CaseLimit, CaseOptions } from './behaviour-cases.js';

export type CaseLibrary = Pick<typeof Bucketflow,
  'ManualClock' | 'TokenBucket' | 'AsyncTokenBucket' | 'HierarchicalTokenBucket' | 'KeyedTokenBucket' | 'SharedTokenBucket'>;

type Make = (limit: CaseLimit, clock: Bucketflow.ManualClock, options: CaseOptions) => CaseBucket;

function manualDriver(lib: CaseLibrary, name: string, canBlock: boolean, make: Make, deviations?: Record<string, string>): CaseDriver {
  let clock = new lib.ManualClock();
  return {
    name,
    canBlock,
    slackMs: 0,
    deviations,
    create(limit, options) {
      clock = new lib.ManualClock();
      return make(limit, clock, options);
    },
    async advance(ms) {
      clock.advance(ms);
    },
  };
}

type Verbs = 'consume' | 'acquire' | 'tokens' | 'penalize' | 'reward' | 'setLimits';

/**
 * A bucket with the verbs of a TokenBucket, adapted to the table's slice. `extra` limits are kept
 * after the case's own when the case changes its limit.
 */
function single(b: Pick<Bucketflow.TokenBucket, Verbs> | Pick<Bucketflow.AsyncTokenBucket, Verbs> | Pick<Bucketflow.HierarchicalTokenBucket, Verbs>,
  extra: readonly CaseLimit[] = []): CaseBucket {
  return {
    consume: async (n, o) => b.consume(n, o),
    acquire: (n, o) => b.acquire(n, o),
    tokens: () => b.tokens,
    penalize: (n) => b.penalize(n),
    reward: (n) => b.reward(n),
    setLimits: (l) => b.setLimits(extra.length === 0 ? l : { limits: [l, ...extra] }),
  };
}

const LOOSER = { capacity: 1000, fillRate: 1000 };

/** TokenBucket, AsyncTokenBucket, a bucket of two limits, and a hierarchy's leaf. */
export function behaviourDrivers(lib: CaseLibrary): CaseDriver[] {
  return [
    manualDriver(lib, 'TokenBucket', false, (limit, clock, options) => single(new lib.TokenBucket({ ...limit, ...options, clock }))),
    manualDriver(lib, 'AsyncTokenBucket', true, (limit, clock, options) => single(new lib.AsyncTokenBucket({ ...limit, ...options, clock }))),
    manualDriver(lib, 'TokenBucket with a second, looser limit', false, (limit, clock, options) =>
      single(new lib.TokenBucket({ limits: [limit, LOOSER], ...options, clock }), [LOOSER])),
    manualDriver(lib, 'HierarchicalTokenBucket (leaf under a roomy root)', false, (limit, clock, options) => {
      const root = new lib.HierarchicalTokenBucket({ name: 'root', capacity: 1000, fillRate: 1000, clock });
      return single(new lib.HierarchicalTokenBucket({ ...limit, ...options, name: 'leaf', parent: root }));
    }),
  ];
}

/**
 * One key of a KeyedTokenBucket. A key that refilled to full starts over at `initialTokens`, so
 * the one case that refills to full from `initialTokens` 0 answers differently by design.
 */
export function keyedDriver(lib: CaseLibrary): CaseDriver {
  return manualDriver(lib, 'KeyedTokenBucket (one key)', false, (limit, clock, options) => {
    const k = new lib.KeyedTokenBucket({ ...limit, ...options, clock });
    k.consume('user:1', 0); // the key's bucket starts now, as a TokenBucket does when constructed
    return { consume: async (n, o) => k.consume('user:1', n, o), acquire: (n, o) => k.acquire('user:1', n, o), tokens: () => k.tokens('user:1'), penalize: (n) => k.penalize('user:1', n), reward: (n) => k.reward('user:1', n), setLimits: (l) => k.setLimits(l) };
  }, { 'refill stops at capacity': 'a key whose bucket refilled to full starts again at initialTokens' });
}

/** A SharedTokenBucket used from one thread (needs SharedArrayBuffer). */
export function sharedDriver(lib: CaseLibrary): CaseDriver {
  return manualDriver(lib, 'SharedTokenBucket', false, (limit, clock, options) => single(new lib.SharedTokenBucket({ ...limit, ...options, clock })));
}
