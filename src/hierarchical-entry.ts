export {
  HierarchicalTokenBucket,
  createBucketHierarchy,
  type HierarchicalTokenBucketOptions,
  type BucketHierarchyConfig,
  type BucketHierarchyNode,
  type BucketHierarchyNames,
} from './hierarchical.js';
