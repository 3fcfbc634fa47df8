// setLimits and per-key tiers on the local kinds, beyond the shared case table (which pins the
// meaning: earned tokens count at the old rate, levels cut to a lower capacity, waiters re-timed):
// arguments, a change in the number of limits, read-outs, hierarchies, and limitsFor.
import { describe, expect, it } from 'vitest';
import {
  AsyncTokenBucket,
  HierarchicalTokenBucket,
  KeyedTokenBucket,
  ManualClock,
  RateLimitExceeded,
  SharedTokenBucket,
  TokenBucket,
  type Limit,
} from 'bucketflow';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Whether `p` has settled, without letting real time pass. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => { done = true; }, () => { done = true; });
  await flush();
  return done;
}

describe('setLimits on TokenBucket and AsyncTokenBucket', () => {
  it('checks its argument and changes nothing for a bad one', () => {
    const bucket = new TokenBucket({ capacity: 5, fillRate: 1, clock: new ManualClock() });
    expect(() => bucket.setLimits(undefined as never)).toThrow(TypeError);
    expect(() => bucket.setLimits({ capacity: 5, fill_rate: 1 } as never)).toThrow(/unknown option "fill_rate"/);
    expect(() => bucket.setLimits({ capacity: -1, fillRate: 1 })).toThrow(RangeError);
    expect(() => bucket.setLimits({ limits: [] } as never)).toThrow(TypeError);
    expect(() => bucket.setLimits({ capacity: 5, fillRate: 1, limits: [{ capacity: 1, fillRate: 1 }] } as never)).toThrow(TypeError);
    expect([bucket.capacity, bucket.fillRate, bucket.tokens]).toEqual([5, 1, 5]);
  });

  it('capacity, fillRate and limits read the new values and stay read-only', () => {
    const bucket = new TokenBucket({ capacity: 5, fillRate: 1, clock: new ManualClock() });
    bucket.setLimits({ limits: [{ capacity: 8, fillRate: 2 }, { capacity: 100, fillRate: 0.5 }] });
    expect([bucket.capacity, bucket.fillRate]).toEqual([8, 0.5]);
    expect(bucket.limits).toEqual([{ capacity: 8, fillRate: 2, initialTokens: 8 }, { capacity: 100, fillRate: 0.5, initialTokens: 100 }]);
    expect(() => {
      (bucket as { capacity: number }).capacity = 1;
    }).toThrow(TypeError);
    expect(bucket.capacity).toBe(8);
  });

  it('matches limits by position: a new limit starts at its initialTokens, a dropped one is gone', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ capacity: 10, fillRate: 1, clock });
    expect(bucket.consume(7)).toBe(true); // 3 left
    bucket.setLimits({ limits: [{ capacity: 10, fillRate: 1 }, { capacity: 20, fillRate: 1, initialTokens: 2 }] });
    expect(bucket.tokens).toBe(2); // the new limit's 2 are now the lowest
    expect(bucket.consume(2)).toBe(true);
    clock.advance(1000);
    expect(bucket.tokens).toBe(1);
    bucket.setLimits({ capacity: 10, fillRate: 1 }); // back to the first limit alone: it holds 2
    expect(bucket.tokens).toBe(2);
    expect(bucket.consume(2)).toBe(true);
    expect(bucket.consume(0.5)).toBe(false);
  });

  it('a waiter whose request is above a lowered capacity keeps its reservation and is served', async () => {
    const clock = new ManualClock();
    const bucket = new AsyncTokenBucket({ capacity: 10, fillRate: 1, initialTokens: 0, clock });
    const waiting = bucket.acquire(6);
    bucket.setLimits({ capacity: 4, fillRate: 2 });
    expect(bucket.waiting).toBe(1);
    clock.advance(2999);
    expect(await settled(waiting)).toBe(false);
    clock.advance(1); // 6 at 2 per second
    expect(await settled(waiting)).toBe(true);
    await expect(bucket.acquire(6)).rejects.toThrow(RangeError); // a new one cannot fit
  });

  it('a fill rate of 0 holds a queued waiter until the rate comes back', async () => {
    const clock = new ManualClock();
    const bucket = new AsyncTokenBucket({ capacity: 2, fillRate: 1, initialTokens: 0, clock });
    const waiting = bucket.acquire(1);
    bucket.setLimits({ capacity: 2, fillRate: 0 });
    clock.advance(60_000);
    expect(await settled(waiting)).toBe(false);
    bucket.setLimits({ capacity: 2, fillRate: 1 });
    clock.advance(1000);
    expect(await settled(waiting)).toBe(true);
  });

  it('a waiter with a maxWait is not refused for a slower rate: it reserved its tokens already', async () => {
    const clock = new ManualClock();
    const bucket = new AsyncTokenBucket({ capacity: 2, fillRate: 1, initialTokens: 0, clock });
    const waiting = bucket.acquire(1, { maxWait: 1500 });
    bucket.setLimits({ capacity: 2, fillRate: 0.25 });
    clock.advance(3999);
    expect(await settled(waiting)).toBe(false);
    clock.advance(1);
    await expect(waiting).resolves.toBeUndefined();
    await expect(bucket.acquire(1, { maxWait: 0 })).rejects.toThrow(RateLimitExceeded);
  });
});

describe('setLimits on a hierarchy', () => {
  it('changes one level; the buckets below re-time their waiters and see the new bound', async () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ name: 'root', capacity: 10, fillRate: 1, initialTokens: 0, clock });
    const leaf = new HierarchicalTokenBucket({ name: 'leaf', capacity: 10, fillRate: 100, parent: root });
    const waiting = leaf.acquire(2); // the root's 2 tokens: 2000 ms
    clock.advance(1000);
    root.setLimits({ capacity: 10, fillRate: 0.5 }); // the other token in 2000 ms
    clock.advance(1999);
    expect(await settled(waiting)).toBe(false);
    clock.advance(1);
    expect(await settled(waiting)).toBe(true);
    root.setLimits({ capacity: 3, fillRate: 0.5 });
    expect(leaf.take(4).retryAfter).toBe(Infinity);
    await expect(leaf.acquire(4)).rejects.toThrow(RangeError);
    expect(root.capacity).toBe(3);
    expect(() => root.setLimits({ limits: [{ capacity: 1, fillRate: 1 }, { capacity: 2, fillRate: 1 }] })).toThrow(/one limit/);
  });

  it('a faster level serves a waiter below it sooner', async () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ capacity: 10, fillRate: 1, initialTokens: 0, clock });
    const leaf = new HierarchicalTokenBucket({ capacity: 10, fillRate: 100, parent: root });
    const waiting = leaf.acquire(4); // 4000 ms
    clock.advance(1000);
    root.setLimits({ capacity: 10, fillRate: 3 }); // the other 3 in 1000 ms
    clock.advance(1000);
    expect(await settled(waiting)).toBe(true);
  });
});

describe('setLimits on KeyedTokenBucket', () => {
  it('settles every key at the old rate, then applies the new limits to all of them', () => {
    const clock = new ManualClock();
    const keyed = new KeyedTokenBucket({ capacity: 10, fillRate: 1, clock });
    keyed.consume('a', 10);
    keyed.consume('b', 4); // 6 left
    clock.advance(2000); // a: 2, b: 8
    keyed.setLimits({ capacity: 5, fillRate: 0.5 });
    expect([keyed.tokens('a'), keyed.tokens('b'), keyed.tokens('new')]).toEqual([2, 5, 5]);
    clock.advance(2000);
    expect(keyed.tokens('a')).toBe(3);
    expect([keyed.capacity, keyed.fillRate]).toEqual([5, 0.5]);
  });

  it('grows each key\'s slot for more limits, keeping every level', () => {
    const clock = new ManualClock();
    const keyed = new KeyedTokenBucket({ capacity: 10, fillRate: 1, clock });
    for (let i = 0; i < 100; i++) keyed.consume(`k${i}`, i % 10);
    keyed.setLimits({ limits: [{ capacity: 10, fillRate: 1 }, { capacity: 100, fillRate: 1, initialTokens: 50 }, { capacity: 7, fillRate: 1 }] });
    for (let i = 0; i < 100; i++) expect(keyed.tokens(`k${i}`)).toBe(Math.min(10 - (i % 10), 7));
    expect(keyed.limitsOf('k1')).toHaveLength(3);
    expect(() => keyed.setLimits({ limitsFor: () => ({ capacity: 1, fillRate: 1 }) })).toThrow(/made with limitsFor/);
  });
});

describe('limitsFor: per-key tiers', () => {
  const free: Limit = { capacity: 2, fillRate: 1 };
  const pro: Limit[] = [{ capacity: 20, fillRate: 10 }, { capacity: 1000, fillRate: 1 }];

  it('asks once per new bucket, keeps the tier per key, and reads NaN for a single capacity', () => {
    const clock = new ManualClock();
    const asked: string[] = [];
    const keyed = new KeyedTokenBucket({
      clock,
      limitsFor: (key) => {
        asked.push(key);
        return key.startsWith('pro:') ? pro : free;
      },
    });
    expect([keyed.capacity, keyed.fillRate, keyed.limits]).toEqual([NaN, NaN, []]);
    expect(keyed.consume('free:1', 2)).toBe(true);
    expect(keyed.consume('free:1')).toBe(false);
    expect(keyed.consume('pro:1', 20)).toBe(true);
    expect(keyed.consume('pro:1')).toBe(false);
    expect(keyed.consume('pro:2', 3)).toBe(true);
    expect(asked).toEqual(['free:1', 'pro:1', 'pro:2']);
    expect(keyed.take('pro:1', 25).retryAfter).toBe(Infinity);
    expect(keyed.consume('free:1', 3)).toBe(false);
    expect(keyed.timeUntil('free:1', 3)).toBe(Infinity);
    expect(keyed.limitsOf('pro:9')).toEqual(pro.map((l) => ({ ...l, initialTokens: l.capacity })));
    expect(keyed.tokens('pro:9')).toBe(20);
    expect(asked).toEqual(['free:1', 'pro:1', 'pro:2', 'pro:9', 'pro:9']); // read-outs of unknown keys ask, and remember nothing
    expect(keyed.size).toBe(3);
  });

  it('a waiting request above its key\'s capacity is a RangeError', async () => {
    const keyed = new KeyedTokenBucket({ clock: new ManualClock(), limitsFor: (key) => (key === 'big' ? { capacity: 10, fillRate: 1 } : free) });
    await expect(keyed.acquire('small', 3)).rejects.toThrow(RangeError);
    await expect(keyed.acquire('big', 3)).resolves.toBeUndefined();
    expect(() => keyed.consume('small', 3, { block: true })).toThrow(RangeError);
  });

  it('rejects bad options and bad tiers, naming the key, and remembers no key for them', () => {
    expect(() => new KeyedTokenBucket({ limitsFor: 'free' as never })).toThrow(/limitsFor must be a function/);
    expect(() => new KeyedTokenBucket({ limitsFor: () => free, capacity: 1 } as never)).toThrow(/not both/);
    const keyed = new KeyedTokenBucket({
      clock: new ManualClock(),
      limitsFor: (key) => (key === 'bad' ? ({ capacity: -1, fillRate: 1 }) : key === 'worse' ? (null as never) : free),
    });
    expect(() => keyed.consume('bad')).toThrow(/limitsFor\("bad"\)/);
    expect(() => keyed.consume('worse')).toThrow(/limitsFor\("worse"\) must return/);
    expect(keyed.size).toBe(0);
    expect(keyed.consume('ok')).toBe(true);
  });

  it('setLimits gives every key its tier anew (settled at its old one first), or one set of limits to all', () => {
    const clock = new ManualClock();
    const keyed = new KeyedTokenBucket({ clock, limitsFor: (key) => (key.startsWith('pro:') ? pro : free) });
    keyed.consume('free:1', 2);
    keyed.consume('pro:1', 20);
    clock.advance(1000); // free:1 at 1, pro:1 at 10
    keyed.setLimits({ limitsFor: (key) => (key === 'free:1' ? pro : free) }); // free:1 upgraded, pro:1 downgraded
    expect(keyed.tokens('free:1')).toBe(1);
    expect(keyed.tokens('pro:1')).toBe(2); // cut to the free capacity
    clock.advance(1000);
    expect(keyed.tokens('free:1')).toBe(11);
    keyed.setLimits({ capacity: 3, fillRate: 1 });
    expect([keyed.tokens('free:1'), keyed.tokens('pro:1'), keyed.tokens('other')]).toEqual([3, 2, 3]);
    expect(Number.isNaN(keyed.capacity)).toBe(true);
  });

  it('a limitsFor that throws in setLimits changes nothing', () => {
    const clock = new ManualClock();
    const keyed = new KeyedTokenBucket({ clock, limitsFor: () => free });
    keyed.consume('a', 1);
    expect(() => keyed.setLimits({ limitsFor: () => { throw new Error('plans are down'); } })).toThrow('plans are down');
    expect(keyed.tokens('a')).toBe(1);
    expect(keyed.consume('b', 2)).toBe(true); // the old limitsFor still serves new keys
  });
});

describe('setLimits on SharedTokenBucket', () => {
  it('keeps its number of limits; every object on the buffer reads the new values', () => {
    const clock = new ManualClock();
    const bucket = new SharedTokenBucket({ capacity: 10, fillRate: 1, clock });
    const other = SharedTokenBucket.from(bucket.handle, { clock });
    expect(() => bucket.setLimits({ limits: [{ capacity: 1, fillRate: 1 }, { capacity: 2, fillRate: 1 }] })).toThrow(/keeps its number of limits \(1\)/);
    bucket.consume(2);
    bucket.setLimits({ capacity: 5, fillRate: 2 });
    expect([other.capacity, other.fillRate, other.tokens]).toEqual([5, 2, 5]);
    expect(other.consume(5)).toBe(true);
    clock.advance(500);
    expect(other.tokens).toBe(1); // the new rate, read by the other object
  });
});
