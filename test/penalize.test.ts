// penalize and reward on the local kinds, beyond the shared case table: arguments, hierarchies
// (every ancestor too), keyed limiters with no room for a new key.
import { describe, expect, it } from 'vitest';
import { HierarchicalTokenBucket, KeyedTokenBucket, ManualClock, TokenBucket } from 'bucketflow';

describe('penalize and reward', () => {
  it('check n and change nothing for a bad one', () => {
    const bucket = new TokenBucket({ capacity: 5, fillRate: 1, clock: new ManualClock() });
    expect(() => bucket.penalize(-1)).toThrow(RangeError);
    expect(() => bucket.reward(Number.NaN)).toThrow(RangeError);
    expect(() => bucket.penalize('2' as never)).toThrow(TypeError);
    expect(bucket.tokens).toBe(5);
    bucket.penalize(0);
    bucket.penalize();
    expect(bucket.tokens).toBe(4);
  });

  it('a penalty on a hierarchy bucket reaches every ancestor, a reward too', () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ capacity: 10, fillRate: 1, clock });
    const leaf = new HierarchicalTokenBucket({ capacity: 5, fillRate: 1, parent: root });
    leaf.penalize(7);
    expect([leaf.tokens, root.tokens]).toEqual([-2, 3]);
    leaf.reward(20);
    expect([leaf.tokens, root.tokens]).toEqual([5, 10]);
  });

  it('a keyed penalty needs room for the key; a reward of a key not held is nothing', async () => {
    const clock = new ManualClock();
    const keyed = new KeyedTokenBucket({ capacity: 1, fillRate: 1, clock, maxKeys: 1 });
    keyed.consume('a');
    const waiting = keyed.acquire('a'); // 'a' has a waiter: it cannot be forgotten
    expect(() => keyed.penalize('b', 1)).toThrow(/cannot penalize "b": all maxKeys \(1\) keys have queued waiters/);
    expect(() => keyed.reward('b', 1)).not.toThrow();
    clock.advance(1000);
    await waiting;
  });
});
