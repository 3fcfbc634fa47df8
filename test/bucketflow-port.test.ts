// BucketFlow's (Python) own test cases and README examples, ported to this API: fill_rate →
// fillRate (still tokens per second), initial_tokens → initialTokens, time.sleep → a ManualClock
// (or real time where real time is the point), threads → concurrent promises. Each `it` names the
// BucketFlow test it mirrors.
import { describe, expect, it } from 'vitest';
import {
  AsyncTokenBucket,
  HierarchicalTokenBucket,
  ManualClock,
  RateLimitExceeded,
  TokenBucket,
  createBucketHierarchy,
  rateLimit,
} from 'bucketflow';
import { asyncRateLimit } from 'bucketflow/async';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('BucketFlow tests/test_hierarchical_token_bucket.py', () => {
  it('test_simple_hierarchy: consuming from a child also consumes from the root', () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ capacity: 100, fillRate: 10, name: 'root', clock });
    const child = new HierarchicalTokenBucket({ capacity: 20, fillRate: 2, parent: root, name: 'child' });
    expect(root.tokens).toBe(100);
    expect(child.tokens).toBe(20);
    expect(child.consume(10)).toBe(true);
    expect(root.tokens).toBe(90);
    expect(child.tokens).toBe(10);
  });

  it('test_deep_hierarchy: four levels are all charged', () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ capacity: 100, fillRate: 10, name: 'root', clock });
    const level1 = new HierarchicalTokenBucket({ capacity: 50, fillRate: 5, parent: root, name: 'level1' });
    const level2 = new HierarchicalTokenBucket({ capacity: 20, fillRate: 2, parent: level1, name: 'level2' });
    const level3 = new HierarchicalTokenBucket({ capacity: 10, fillRate: 1, parent: level2, name: 'level3' });
    expect(level3.consume(5)).toBe(true);
    expect([root.tokens, level1.tokens, level2.tokens, level3.tokens]).toEqual([95, 45, 15, 5]);
  });

  it('test_consumption_hierarchy_limits: more than the child has fails and changes neither', () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ capacity: 100, fillRate: 10, name: 'root', clock });
    const child = new HierarchicalTokenBucket({ capacity: 15, fillRate: 2, parent: root, name: 'child' });
    expect(child.consume(20, { block: false })).toBe(false);
    expect([root.tokens, child.tokens]).toEqual([100, 15]);
    expect(child.consume(15)).toBe(true);
    expect([root.tokens, child.tokens]).toEqual([85, 0]);
  });

  it('test_blocking_hierarchical_consume: blocks about 2 tokens / 5 per second (real time)', () => {
    const start = performance.now(); // the child's refill counts from its creation
    const root = new HierarchicalTokenBucket({ capacity: 100, fillRate: 10, name: 'root' });
    const child = new HierarchicalTokenBucket({ capacity: 5, fillRate: 5, initialTokens: 0, name: 'child', parent: root });
    expect(child.consume(2, { block: true })).toBe(true);
    const elapsed = performance.now() - start;
    expect(elapsed).toBeGreaterThanOrEqual(300);
    expect(elapsed).toBeLessThan(2000);
    expect(root.tokens).toBeGreaterThan(97.9);
    expect(root.tokens).toBeLessThanOrEqual(100);
    expect(child.tokens).toBeLessThan(2); // taken (2 would mean nothing was)
  });

  it('test_blocking_hierarchical_consume, promise form: acquire resolves after 400 ms of clock time', async () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ capacity: 100, fillRate: 10, name: 'root', clock });
    const child = new HierarchicalTokenBucket({ capacity: 5, fillRate: 5, initialTokens: 0, name: 'child', parent: root });
    let done = false;
    const p = child.acquire(2).then(() => (done = true));
    clock.advance(399);
    await flush();
    expect(done).toBe(false);
    clock.advance(1);
    await p;
    // The promise form reserves its 2 tokens at 0 on both levels (as every waiter does); the root,
    // 100 - 2 then, has refilled to full since. (The synchronous blocking form above takes them at
    // the end instead: it holds nothing while the thread sleeps.)
    expect(root.tokens).toBe(100);
    expect(child.tokens).toBeCloseTo(0, 9);
  });

  it('test_factory_function: create_bucket_hierarchy builds and links every bucket', () => {
    const buckets = createBucketHierarchy({
      name: 'global',
      capacity: 100,
      fillRate: 10,
      clock: new ManualClock(),
      children: [
        { name: 'service1', capacity: 40, fillRate: 4, children: [{ name: 'endpoint1', capacity: 15, fillRate: 1.5 }] },
        { name: 'service2', capacity: 20, fillRate: 2 },
      ],
    });
    expect(Object.keys(buckets)).toHaveLength(4);
    for (const name of ['global', 'service1', 'endpoint1', 'service2']) expect(buckets).toHaveProperty(name);
    expect(buckets.endpoint1.parent).toBe(buckets.service1);
    expect(buckets.service1.parent).toBe(buckets.global);
    expect(buckets.global.parent).toBeUndefined();
    expect(buckets.endpoint1.consume(5)).toBe(true);
    expect([buckets.global.tokens, buckets.service1.tokens, buckets.endpoint1.tokens]).toEqual([95, 35, 10]);
  });

  it('test_sibling_independence: a sibling is untouched', () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ capacity: 100, fillRate: 10, name: 'root', clock });
    const child1 = new HierarchicalTokenBucket({ capacity: 20, fillRate: 2, parent: root, name: 'child1' });
    const child2 = new HierarchicalTokenBucket({ capacity: 30, fillRate: 3, parent: root, name: 'child2' });
    expect(child1.consume(10)).toBe(true);
    expect([root.tokens, child1.tokens, child2.tokens]).toEqual([90, 10, 30]);
  });

  it('test_hierarchy_refill: each level refills at its rate, capped at its capacity', () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ capacity: 100, fillRate: 20, name: 'root', initialTokens: 80, clock });
    const child = new HierarchicalTokenBucket({ capacity: 50, fillRate: 10, parent: root, name: 'child', initialTokens: 30 });
    clock.advance(1000);
    expect(root.tokens).toBe(100);
    expect(child.tokens).toBe(40);
  });

  it('test_concurrent_consumption: concurrent consumers on two children share the root', async () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ capacity: 100, fillRate: 10, name: 'root', clock });
    const child1 = new HierarchicalTokenBucket({ capacity: 30, fillRate: 5, parent: root, name: 'child1' });
    const child2 = new HierarchicalTokenBucket({ capacity: 30, fillRate: 5, parent: root, name: 'child2' });
    const results = await Promise.all([child1.acquire(20).then(() => true), child2.acquire(20).then(() => true)]);
    expect(results).toEqual([true, true]);
    expect([root.tokens, child1.tokens, child2.tokens]).toEqual([60, 10, 10]);
  });

  it('test_boundary_conditions: empty buckets refuse; tiny capacity and rate work', () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ capacity: 10, fillRate: 10, initialTokens: 0, clock });
    const child = new HierarchicalTokenBucket({ capacity: 5, fillRate: 5, initialTokens: 0, parent: root });
    expect(child.consume(1, { block: false })).toBe(false);
    const tiny = new HierarchicalTokenBucket({ capacity: 0.1, fillRate: 0.1, clock });
    expect(tiny.tokens).toBeCloseTo(0.1, 12);
    expect(tiny.consume(0.05)).toBe(true);
    expect(tiny.tokens).toBeCloseTo(0.05, 12);
  });

  it('test_multiple_consumption_attempts: four takes of 5 empty a 20-token child', () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ capacity: 50, fillRate: 5, name: 'root', clock });
    const child = new HierarchicalTokenBucket({ capacity: 20, fillRate: 2, parent: root, name: 'child' });
    for (let i = 0; i < 4; i++) expect(child.consume(5)).toBe(true);
    expect(child.consume(1, { block: false })).toBe(false);
    expect([root.tokens, child.tokens]).toEqual([30, 0]);
  });

  it('test_nested_hierarchies_with_shared_parent: teams and users charge only their own chain', () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ capacity: 1000, fillRate: 100, name: 'root', clock });
    const team1 = new HierarchicalTokenBucket({ capacity: 400, fillRate: 40, parent: root, name: 'team1' });
    const team2 = new HierarchicalTokenBucket({ capacity: 400, fillRate: 40, parent: root, name: 'team2' });
    const user1 = new HierarchicalTokenBucket({ capacity: 100, fillRate: 10, parent: team1, name: 'user1' });
    const user2 = new HierarchicalTokenBucket({ capacity: 100, fillRate: 10, parent: team1, name: 'user2' });
    const user3 = new HierarchicalTokenBucket({ capacity: 100, fillRate: 10, parent: team2, name: 'user3' });
    const user4 = new HierarchicalTokenBucket({ capacity: 100, fillRate: 10, parent: team2, name: 'user4' });
    expect(user1.consume(50)).toBe(true);
    expect(user3.consume(50)).toBe(true);
    expect([root, team1, team2, user1, user2, user3, user4].map((b) => b.tokens)).toEqual([900, 350, 350, 50, 100, 50, 100]);
    expect(user2.consume(75)).toBe(true);
    expect(user4.consume(75)).toBe(true);
    expect([root.tokens, team1.tokens, team2.tokens]).toEqual([750, 275, 275]);
  });
});

describe('BucketFlow README and example.py', () => {
  it('Basic Usage: a 10-token bucket filling at 2/s', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ capacity: 10, fillRate: 2, clock });
    expect(bucket.consume()).toBe(true);
    expect(bucket.consume(5)).toBe(true);
    expect(bucket.tokens).toBe(4);
    // "Block until tokens are available": 3 tokens are there, no wait.
    expect(bucket.consume(3, { block: true })).toBe(true);
    // ... and when they are not, the promise form waits: 2 tokens at 2/s is 1 s.
    let done = false;
    const p = bucket.acquire(3).then(() => (done = true));
    clock.advance(999);
    await flush();
    expect(done).toBe(false);
    clock.advance(1);
    await p;
  });

  it('example.py: consume 5, refuse 10, refill for 3 s (capped), then take 10', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ capacity: 10, fillRate: 2, clock });
    expect(bucket.tokens).toBe(10);
    expect(bucket.consume(5)).toBe(true);
    expect(bucket.tokens).toBe(5);
    expect(bucket.consume(10, { block: false })).toBe(false);
    clock.advance(3000);
    expect(bucket.tokens).toBe(10);
    expect(bucket.consume(10)).toBe(true);
  });

  it('Decorator Usage: 2 calls per second with bursts of 5; the sixth call waits', async () => {
    const clock = new ManualClock();
    // BucketFlow's decorator makes its own bucket; a shared one lets the test drive the clock.
    const bucket = new AsyncTokenBucket({ capacity: 5, fillRate: 2, clock });
    const calls: number[] = [];
    const apiRequest = rateLimit({ bucket })((i: number) => calls.push(i));
    const all = Promise.all(Array.from({ length: 7 }, (_, i) => apiRequest(i)));
    await flush();
    expect(calls).toEqual([0, 1, 2, 3, 4]);
    clock.advance(500);
    await flush();
    expect(calls).toHaveLength(6);
    clock.advance(500);
    await all;
    expect(calls).toHaveLength(7);
  });

  it('Decorator Usage: rate_limit(tokens_per_second=2, capacity=5) burst of 5 without waiting', async () => {
    const f = rateLimit({ tokensPerSecond: 2, capacity: 5, block: false })(() => 'ok');
    for (let i = 0; i < 5; i++) await expect(f()).resolves.toBe('ok');
    await expect(f()).rejects.toBeInstanceOf(RateLimitExceeded);
  });

  it('Non-blocking decorator: rate_limit(tokens_per_second=1, block=False) raises RateLimitExceeded', async () => {
    const limited = rateLimit({ tokensPerSecond: 1, block: false })(() => undefined);
    await limited();
    const error = (await limited().catch((e: unknown) => e)) as RateLimitExceeded;
    expect(error).toBeInstanceOf(RateLimitExceeded);
    expect(error.retryAfter).toBeGreaterThan(900);
    expect(error.retryAfter).toBeLessThanOrEqual(1000);
  });

  it('Async Support: AsyncTokenBucket(capacity=10, fill_rate=2).consume(5), async_rate_limit', async () => {
    const bucket = new AsyncTokenBucket({ capacity: 10, fillRate: 2, clock: new ManualClock() });
    expect(await bucket.consume(5)).toBe(true);
    expect(await bucket.consume(5)).toBe(true);
    expect(await bucket.consume(5)).toBe(false);
    const call = asyncRateLimit({ tokensPerSecond: 2 })(async () => 'response');
    await expect(call()).resolves.toBe('response');
  });

  it('Hierarchical Rate Limiting: api1.consume(5) takes 5 from api1, user2 and root', () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ capacity: 100, fillRate: 10, name: 'root', clock });
    const user1 = new HierarchicalTokenBucket({ capacity: 20, fillRate: 2, parent: root, name: 'user1' });
    const user2 = new HierarchicalTokenBucket({ capacity: 30, fillRate: 3, parent: root, name: 'user2' });
    const api1 = new HierarchicalTokenBucket({ capacity: 10, fillRate: 1, parent: user2, name: 'api1' });
    expect(api1.consume(5)).toBe(true);
    expect([root.tokens, user1.tokens, user2.tokens, api1.tokens]).toEqual([95, 20, 25, 5]);
  });

  it('example_hierarchy.py: user1 takes 15, api1 takes 8, then 5 more fails and waits 3 s', async () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ capacity: 100, fillRate: 10, name: 'root', clock });
    const user1 = new HierarchicalTokenBucket({ capacity: 20, fillRate: 2, parent: root, name: 'user1' });
    const user2 = new HierarchicalTokenBucket({ capacity: 30, fillRate: 3, parent: root, name: 'user2' });
    const api1 = new HierarchicalTokenBucket({ capacity: 10, fillRate: 1, parent: user2, name: 'api1' });
    expect(user1.consume(15)).toBe(true);
    expect([root.tokens, user1.tokens]).toEqual([85, 5]);
    expect(api1.consume(8)).toBe(true);
    expect([root.tokens, user2.tokens, api1.tokens]).toEqual([77, 22, 2]);
    expect(api1.consume(5, { block: false })).toBe(false);
    expect(api1.timeUntil(5)).toBe(3000);
    const p = api1.acquire(5);
    clock.advance(3000);
    await p;
    expect(api1.tokens).toBeCloseTo(0, 9);
  });

  it('Creating a Bucket Hierarchy from Configuration: buckets["endpoint1"].consume(5)', () => {
    const buckets = createBucketHierarchy({
      name: 'global',
      capacity: 100,
      fillRate: 10,
      children: [
        {
          name: 'service1',
          capacity: 40,
          fillRate: 4,
          children: [
            { name: 'endpoint1', capacity: 15, fillRate: 1.5 },
            { name: 'endpoint2', capacity: 25, fillRate: 2.5 },
          ],
        },
        { name: 'service2', capacity: 60, fillRate: 6 },
      ],
    });
    expect(Object.keys(buckets)).toEqual(['global', 'service1', 'endpoint1', 'endpoint2', 'service2']);
    expect(buckets.endpoint1.name).toBe('endpoint1');
    expect(buckets.endpoint1.consume(10)).toBe(true);
    expect(buckets.global.tokens).toBeGreaterThanOrEqual(90);
    expect(buckets.global.tokens).toBeLessThan(91);
    expect(buckets.service1.tokens).toBeLessThan(31);
    expect(buckets.endpoint1.tokens).toBeLessThan(6);
  });
});
