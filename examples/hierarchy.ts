// HierarchicalTokenBucket (BucketFlow's "Hierarchical Rate Limiting").
import { HierarchicalTokenBucket } from 'bucketflow/hierarchical';

const root = new HierarchicalTokenBucket({ capacity: 100, fillRate: 10, name: 'root' });
const user1 = new HierarchicalTokenBucket({ capacity: 20, fillRate: 2, parent: root, name: 'user1' });
const user2 = new HierarchicalTokenBucket({ capacity: 30, fillRate: 3, parent: root, name: 'user2' });
const api1 = new HierarchicalTokenBucket({ capacity: 10, fillRate: 1, parent: user2, name: 'api1' });

// Takes 5 tokens from api1, user2 and root, or from none of them if any is short.
api1.consume(5);
const show = (b: HierarchicalTokenBucket) => `${b.name}=${Math.floor(b.tokens)}`;
console.log([root, user1, user2, api1].map(show).join(' '));

// api1 has 5 left: asking for 6 is refused, and no level changes.
console.log('api1.consume(6):', api1.consume(6), [root, user2, api1].map(show).join(' '));

// The promise form waits for the slowest level on the chain.
await user1.acquire(20);
console.log('children of root:', root.children.map((b) => b.name).join(', '));
