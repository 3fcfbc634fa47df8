// A request charged to three nested buckets (e.g. user -> tenant -> global), all or nothing,
// against the same request on one bucket. Every level always admits.
import { TokenBucket as LimiterBucket } from 'limiter';
import { HierarchicalTokenBucket, TokenBucket } from '../../src/index.js';
import { syncLoop } from '../measure.js';
import type { Contender } from './types.js';

const BIG = 1e9;

export const hierarchy: Record<string, Contender> = {
  'bucketflow TokenBucket (1 level)': ({ timing }) => {
    const b = new TokenBucket({ capacity: BIG, fillRate: BIG });
    return syncLoop(() => b.consume(1), true, timing);
  },
  'bucketflow Hierarchical, 1 level': ({ timing }) => {
    const b = new HierarchicalTokenBucket({ capacity: BIG, fillRate: BIG });
    return syncLoop(() => b.consume(1), true, timing);
  },
  'bucketflow Hierarchical, 3 levels': ({ timing }) => {
    const root = new HierarchicalTokenBucket({ name: 'global', capacity: BIG, fillRate: BIG });
    const mid = new HierarchicalTokenBucket({ name: 'tenant', capacity: BIG, fillRate: BIG, parent: root });
    const leaf = new HierarchicalTokenBucket({ name: 'user', capacity: BIG, fillRate: BIG, parent: mid });
    return syncLoop(() => leaf.consume(1), true, timing);
  },
  'limiter, 3 levels': ({ timing }) => {
    const opts = { bucketSize: BIG, tokensPerInterval: BIG, interval: 'second' } as const;
    const root = new LimiterBucket(opts);
    const mid = new LimiterBucket({ ...opts, parentBucket: root });
    const leaf = new LimiterBucket({ ...opts, parentBucket: mid });
    return syncLoop(() => leaf.tryRemoveTokens(1), true, timing);
  },
};
