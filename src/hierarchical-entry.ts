export {
  HierarchicalTokenBucket,
  createBucketHierarchy,
  type HierarchicalTokenBucketOptions,
  type BucketHierarchyConfig,
  type BucketHierarchyNode,
  type BucketHierarchyNames,
} from './buckets/hierarchical.js';
export { RateLimitExceeded } from './errors.js';
