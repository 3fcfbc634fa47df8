// createBucketHierarchy (BucketFlow's "Creating a Bucket Hierarchy from Configuration").
import { createBucketHierarchy } from 'bucketflow/hierarchical';

const buckets = createBucketHierarchy({
  name: 'global',
  capacity: 100,
  fillRate: 10,
  children: [
    {
      name: 'service1',
      capacity: 40,
      fillRate: 4,
      children: [{ name: 'endpoint1', capacity: 15, fillRate: 1.5 }],
    },
  ],
});

// Every bucket by name (a typo such as buckets.endpont1 is a type error).
buckets.endpoint1.consume(5); // also charged to service1 and global
console.log(Object.keys(buckets).join(', '), '| endpoint1 has', Math.floor(buckets.endpoint1.tokens));

// A bad config throws before any bucket is made, naming the node.
try {
  createBucketHierarchy({ name: 'api', capacity: 10, fillRate: 1, children: [{ name: 'search', capacity: -5, fillRate: 1 }] });
} catch (error) {
  console.log((error as Error).message);
}
