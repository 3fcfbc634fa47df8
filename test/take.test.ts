// take(): the non-waiting decision in full on every local kind: the same decision a non-waiting
// consume makes, and what each limit holds after it.
import { describe, expect, it } from 'vitest';
import {
  AsyncTokenBucket,
  KeyedTokenBucket,
  ManualClock,
  SharedTokenBucket,
  TokenBucket,
  createBucketHierarchy,
  type Decision,
} from 'bucketflow';

const limitsOf = (d: Decision) => d.limits.map((l) => ({ ...l }));

describe('take() on the local kinds', () => {
  it('TokenBucket: taken, what is left, when it is full again; refused with the honest retryAfter', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ capacity: 10, fillRate: 2, clock });
    expect(bucket.take(4)).toEqual({
      allowed: true, remaining: 6, retryAfter: 0, resetAfter: 2000,
      limits: [{ capacity: 10, fillRate: 2, remaining: 6, resetAfter: 2000 }],
    });
    const refused = bucket.take(8);
    expect(refused).toMatchObject({ allowed: false, remaining: 6, retryAfter: 1000, resetAfter: 2000 });
    clock.advance(refused.retryAfter);
    expect(bucket.take(8)).toMatchObject({ allowed: true, remaining: 0, resetAfter: 5000 });
    expect(bucket.take()).toMatchObject({ allowed: false, retryAfter: 500 });
  });

  it('take(0) reads the levels and passes, even behind a waiter; n above capacity never passes; bad n throws', async () => {
    const clock = new ManualClock();
    const bucket = new AsyncTokenBucket({ capacity: 5, fillRate: 1, clock });
    await bucket.acquire(5);
    const waiting = bucket.acquire(2); // owes 2: the level reads -2
    expect(await bucket.take(0)).toMatchObject({ allowed: true, remaining: 0, retryAfter: 0, resetAfter: 7000 });
    expect(await bucket.take(1)).toMatchObject({ allowed: false, retryAfter: 3000 }); // behind the waiter
    expect(await bucket.take(6)).toMatchObject({ allowed: false, retryAfter: Infinity });
    await expect(bucket.take(-1)).rejects.toThrow(RangeError);
    clock.advance(2000);
    await waiting;
  });

  it('several limits: one entry per limit, the fewest remaining, the longest reset; a fixed quota never resets', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ limits: [{ capacity: 10, fillRate: 10 }, { capacity: 100, fillRate: 0 }], clock });
    const d = bucket.take(3);
    expect(limitsOf(d)).toEqual([
      { capacity: 10, fillRate: 10, remaining: 7, resetAfter: 300 },
      { capacity: 100, fillRate: 0, remaining: 97, resetAfter: Infinity },
    ]);
    expect(d).toMatchObject({ allowed: true, remaining: 7, resetAfter: Infinity });
    expect(bucket.take(98)).toMatchObject({ allowed: false, retryAfter: Infinity }); // the quota has 97
  });

  it('the same decisions as a non-waiting consume, step for step', () => {
    const clock = new ManualClock();
    const a = new TokenBucket({ limits: [{ capacity: 4, fillRate: 3 }, { capacity: 9, fillRate: 0.5 }], clock });
    const b = new TokenBucket({ limits: [{ capacity: 4, fillRate: 3 }, { capacity: 9, fillRate: 0.5 }], clock });
    let seed = 9;
    const next = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    for (let i = 0; i < 300; i++) {
      const n = Math.floor(next() * 5) / 2;
      expect(a.take(n).allowed).toBe(b.consume(n));
      expect(a.tokens).toBe(b.tokens);
      clock.advance(next() * 400);
    }
  });

  it('KeyedTokenBucket: per key', () => {
    const clock = new ManualClock();
    const keyed = new KeyedTokenBucket({ capacity: 2, fillRate: 1, clock });
    expect(keyed.take('a', 2)).toMatchObject({ allowed: true, remaining: 0, resetAfter: 2000 });
    expect(keyed.take('a')).toMatchObject({ allowed: false, retryAfter: 1000 });
    expect(keyed.take('b')).toMatchObject({ allowed: true, remaining: 1, resetAfter: 1000 });
    expect(() => keyed.take(3 as never)).toThrow(TypeError);
  });

  it('a hierarchy lists this bucket first, then its ancestors', () => {
    const clock = new ManualClock();
    const { api, search } = createBucketHierarchy({ name: 'api', capacity: 10, fillRate: 1, clock, children: [{ name: 'search', capacity: 4, fillRate: 2 }] });
    expect(limitsOf(search!.take(3))).toEqual([
      { capacity: 4, fillRate: 2, remaining: 1, resetAfter: 1500 },
      { capacity: 10, fillRate: 1, remaining: 7, resetAfter: 3000 },
    ]);
    expect(search!.take(2)).toMatchObject({ allowed: false, retryAfter: 500 });
    expect(api!.take(0).remaining).toBe(7);
    expect(search!.take(5)).toMatchObject({ allowed: false, retryAfter: Infinity });
  });

  it('SharedTokenBucket: under the shared lock', () => {
    const clock = new ManualClock();
    const bucket = new SharedTokenBucket({ capacity: 3, fillRate: 1, clock });
    const twin = SharedTokenBucket.from(bucket.handle, { clock });
    expect(bucket.take(2)).toMatchObject({ allowed: true, remaining: 1 });
    expect(twin.take(2)).toMatchObject({ allowed: false, remaining: 1, retryAfter: 1000 });
  });
});
