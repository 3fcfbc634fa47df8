// Edge cases of the in-memory buckets: clocks at any magnitude, float hairs, bad clocks, zero-token
// requests, shared abort signals, and a public surface that holds only what is documented.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AsyncTokenBucket,
  HierarchicalTokenBucket,
  KeyedTokenBucket,
  ManualClock,
  RateLimitExceeded,
  SharedTokenBucket,
  TokenBucket,
  createBucketHierarchy,
  rateLimit,
  type Clock,
} from 'bucketflow';

const flush = () => new Promise<void>((r) => setImmediate(r));

const schedule = Symbol.for('bucketflow.clock.schedule');

/** A ManualClock that fails loudly, instead of looping forever, when timers keep re-arming. */
class GuardedClock extends ManualClock {
  timers = 0;
  [schedule](delayMs: number, callback: () => void): { cancel(): void } {
    if (++this.timers > 10_000) throw new Error('10,000 timers armed: a wait that never arrives');
    return (ManualClock.prototype as unknown as Record<symbol, (d: number, c: () => void) => { cancel(): void }>)[schedule]!.call(this, delayMs, callback);
  }
}

/** Every waiting kind, as `acquire(n)` and `timeUntil(n)` / `consume(n)` on one bucket of `clock`. */
interface Subject {
  name: string;
  acquire(n: number, options?: { maxWait?: number; signal?: AbortSignal }): Promise<void>;
  timeUntil(n: number): number;
  consume(n: number): boolean | Promise<boolean>;
}

const KINDS = 7;

function subjects(clock: ManualClock, limit: { capacity: number; fillRate: number; initialTokens?: number }): Subject[] {
  const token = new TokenBucket({ ...limit, clock });
  const async = new AsyncTokenBucket({ ...limit, clock });
  const multi = new TokenBucket({ limits: [limit, { capacity: 1e6, fillRate: 1e5 }], clock });
  const keyed = new KeyedTokenBucket({ ...limit, clock });
  const root = new HierarchicalTokenBucket({ capacity: 1e6, fillRate: 1e5, clock });
  const leaf = new HierarchicalTokenBucket({ ...limit, parent: root });
  const shared = new SharedTokenBucket({ ...limit, clock });
  const limited = rateLimit({ bucket: new AsyncTokenBucket({ ...limit, clock }), tokens: 1 })(async () => 'ran');
  const forRateLimit = new TokenBucket({ ...limit, clock }); // timeUntil/consume twin of the wrapped bucket
  return [
    { name: 'TokenBucket', acquire: (n, o) => token.acquire(n, o), timeUntil: (n) => token.timeUntil(n), consume: (n) => token.consume(n) },
    { name: 'AsyncTokenBucket', acquire: (n, o) => async.acquire(n, o), timeUntil: (n) => async.timeUntil(n), consume: (n) => async.consume(n) },
    { name: 'TokenBucket (two limits)', acquire: (n, o) => multi.acquire(n, o), timeUntil: (n) => multi.timeUntil(n), consume: (n) => multi.consume(n) },
    { name: 'KeyedTokenBucket', acquire: (n, o) => keyed.acquire('k', n, o), timeUntil: (n) => keyed.timeUntil('k', n), consume: (n) => keyed.consume('k', n) },
    { name: 'HierarchicalTokenBucket', acquire: (n, o) => leaf.acquire(n, o), timeUntil: (n) => leaf.timeUntil(n), consume: (n) => leaf.consume(n) },
    { name: 'SharedTokenBucket', acquire: (n, o) => shared.acquire(n, o), timeUntil: (n) => shared.timeUntil(n), consume: (n) => shared.consume(n) },
    {
      name: 'rateLimit({ bucket })',
      acquire: async (n) => {
        expect(n).toBe(1);
        forRateLimit.consume(1);
        expect(await limited()).toBe('ran');
      },
      timeUntil: (n) => forRateLimit.timeUntil(n),
      consume: (n) => forRateLimit.consume(n),
    },
  ];
}

describe('a ManualClock at epoch-millisecond values (float steps of 2.4e-4 ms)', () => {
  for (const start of [1.7e12, 1.7e13, 123456789.123]) {
    it(`a waiter on a 3/s bucket is served by advance(1000 / 3), at ${start}`, async () => {
      const clock = new GuardedClock(start);
      for (const s of subjects(clock, { capacity: 1, fillRate: 3 })) {
        await s.acquire(1); // empties the bucket
        let served = false;
        const p = s.acquire(1).then(() => (served = true));
        await flush();
        clock.advance(1000 / 3); // returns: no timer re-arms forever for a float hair
        await flush();
        expect(served, s.name).toBe(true);
        await p;
      }
    });

    it(`advance(timeUntil(n)) always makes consume(n) succeed, at ${start}`, async () => {
      const clock = new ManualClock(start);
      for (const rate of [3, 7, 0.3, 1000 / 7, 12345.678]) {
        for (let i = 0; i < KINDS - 1; i++) { // rateLimit (last) has no timeUntil of its own
          const s = subjects(clock, { capacity: 5, fillRate: rate, initialTokens: 0 })[i]!; // made now, empty now
          await s.consume(0); // a keyed bucket starts at its first request
          for (const n of [1, 0.1, 2.7]) {
            const wait = s.timeUntil(n);
            expect(wait, s.name).toBeGreaterThan(0);
            clock.advance(wait);
            expect(await s.consume(n), `${s.name}, rate ${rate}, n ${n}`).toBe(true);
          }
        }
      }
    });
  }
});

describe('float hairs', () => {
  it('a million takes of 1e-9 on an empty fixed quota admit one, on every kind', async () => {
    const clock = new ManualClock();
    const hierarchy = createBucketHierarchy({ name: 'root', capacity: 1, fillRate: 0, initialTokens: 0, clock, children: [{ name: 'leaf', capacity: 1, fillRate: 0, initialTokens: 0 }] });
    const kinds: [string, () => boolean][] = [
      ['HierarchicalTokenBucket', () => hierarchy.leaf!.consume(1e-9)],
      ['TokenBucket', ((b) => () => b.consume(1e-9))(new TokenBucket({ capacity: 1, fillRate: 0, initialTokens: 0, clock }))],
      ['KeyedTokenBucket', ((b) => () => b.consume('k', 1e-9))(new KeyedTokenBucket({ capacity: 1, fillRate: 0, initialTokens: 0, clock }))],
      ['SharedTokenBucket', ((b) => () => b.consume(1e-9))(new SharedTokenBucket({ capacity: 1, fillRate: 0, initialTokens: 0, clock }))],
    ];
    for (const [name, take] of kinds) {
      let admitted = 0;
      for (let i = 0; i < 1_000_000; i++) if (take()) admitted++;
      expect(admitted, name).toBe(1);
    }
  });
});

describe('clocks that do not read as numbers', () => {
  const bad: [string, Clock][] = [
    ['NaN', { now: () => Number.NaN }],
    ['Infinity', { now: () => Infinity }],
    ['a string', { now: () => '5' as unknown as number }],
  ];
  for (const [what, clock] of bad) {
    it(`a clock reading ${what} is refused by every kind at construction`, () => {
      const message = /clock\.now\(\) must return a finite number of milliseconds/;
      expect(() => new TokenBucket({ capacity: 1, fillRate: 1, clock })).toThrow(message);
      expect(() => new AsyncTokenBucket({ capacity: 1, fillRate: 1, clock })).toThrow(message);
      expect(() => new KeyedTokenBucket({ capacity: 1, fillRate: 1, clock })).toThrow(message);
      expect(() => new HierarchicalTokenBucket({ capacity: 1, fillRate: 1, clock })).toThrow(message);
      expect(() => new SharedTokenBucket({ capacity: 1, fillRate: 1, clock })).toThrow(message);
      expect(() => createBucketHierarchy({ name: 'a', capacity: 1, fillRate: 1, clock })).toThrow(message);
      expect(() => new TokenBucket({ capacity: 1, fillRate: 1, clock })).toThrow(TypeError);
    });
  }
});

describe('zero tokens are always there', () => {
  it('acquire(0, { maxWait: 0 }) and rateLimit({ tokens: 0, block: false }) pass while a waiter is queued', async () => {
    const clock = new ManualClock();
    for (const s of subjects(clock, { capacity: 1, fillRate: 1 })) {
      if (s.name === 'rateLimit({ bucket })') continue;
      await s.acquire(1);
      const waiter = s.acquire(1);
      await expect(s.acquire(0, { maxWait: 0 }), s.name).resolves.toBeUndefined();
      expect(await s.consume(0), s.name).toBe(true);
      clock.advance(1000);
      await waiter;
    }
    const bucket = new AsyncTokenBucket({ capacity: 1, fillRate: 1, clock });
    await bucket.acquire(1);
    const waiter = bucket.acquire(1);
    const free = rateLimit({ bucket, tokens: 0, block: false })(async () => 'free');
    await expect(free()).resolves.toBe('free');
    const paid = rateLimit({ bucket, tokens: 1, block: false })(async () => 'paid');
    await expect(paid()).rejects.toBeInstanceOf(RateLimitExceeded);
    clock.advance(1000);
    await waiter;
  });
});

describe('one AbortSignal shared by many waiters', () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  beforeEach(() => {
    warnings.length = 0;
    process.on('warning', onWarning);
  });
  afterEach(() => {
    process.off('warning', onWarning);
  });

  it('gives no MaxListenersExceededWarning, and aborting it cancels every waiter and returns their tokens', async () => {
    const clock = new ManualClock();
    for (const s of subjects(clock, { capacity: 1, fillRate: 1 })) {
      if (s.name === 'rateLimit({ bucket })') continue;
      await s.acquire(1);
      const ctl = new AbortController();
      const waits = Array.from({ length: 50 }, () => s.acquire(1, { signal: ctl.signal }).then(() => 'served', (e: unknown) => e));
      await flush();
      const reason = new Error('request closed');
      ctl.abort(reason);
      expect(new Set(await Promise.all(waits)), s.name).toEqual(new Set([reason]));
      // Their reservations are back: one second later, one token is there again.
      clock.advance(1000);
      expect(s.timeUntil(1), s.name).toBe(0);
    }
    await flush(); // warnings are emitted on the next tick
    expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
  });
});

describe('a closed public surface', () => {
  const clock = new ManualClock();
  const root = new HierarchicalTokenBucket({ capacity: 5, fillRate: 1, clock, name: 'root' });
  const kinds: [string, object][] = [
    ['TokenBucket', new TokenBucket({ capacity: 1, fillRate: 1, clock })],
    ['AsyncTokenBucket', new AsyncTokenBucket({ capacity: 1, fillRate: 1, clock })],
    ['HierarchicalTokenBucket', new HierarchicalTokenBucket({ capacity: 1, fillRate: 1, parent: root, name: 'leaf' })],
    ['KeyedTokenBucket', new KeyedTokenBucket({ capacity: 1, fillRate: 1, clock })],
    ['SharedTokenBucket', new SharedTokenBucket({ capacity: 1, fillRate: 1, clock })],
  ];

  it('internal members (serve, release, clock, tryTake, blockingTake) are not reachable', () => {
    for (const [name, bucket] of kinds) {
      for (const internal of ['serve', 'release', 'clock', 'tryTake', 'blockingTake']) {
        expect(internal in bucket, `${name}.${internal}`).toBe(false);
      }
    }
  });

  it('read-only properties cannot be reassigned: a hierarchy keeps its parent, a bucket its capacity', () => {
    const other = new HierarchicalTokenBucket({ capacity: 100, fillRate: 100, clock });
    const leaf = kinds[2]![1] as HierarchicalTokenBucket;
    expect(() => {
      (leaf as { parent: unknown }).parent = other;
    }).toThrow(TypeError);
    expect(leaf.parent).toBe(root);
    for (const [name, bucket] of kinds) {
      expect(() => {
        (bucket as { capacity: number }).capacity = 1000;
      }, name).toThrow(TypeError);
      expect((bucket as { capacity: number }).capacity, name).toBe(1);
    }
  });

  it('rateLimit refuses a keyed limiter when wrapping, naming the mistake', () => {
    const keyed = new KeyedTokenBucket({ capacity: 5, fillRate: 1, clock });
    expect(() => rateLimit({ bucket: keyed as never })).toThrow(/single bucket, not a keyed limiter/);
  });
});
