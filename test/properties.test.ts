// Invariants over any sequence of calls and clock moves (fast-check), on a ManualClock.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AsyncTokenBucket, HierarchicalTokenBucket, KeyedTokenBucket, ManualClock, TokenBucket } from 'bucketflow';
import { advance, lowest, reserve, waitAll, type Limits } from '../src/core/limits.js';

const EPS = 1e-6;
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

const limitArb = fc
  .record({
    capacity: fc.double({ min: 0.5, max: 50, noNaN: true }),
    fillRate: fc.double({ min: 0, max: 100, noNaN: true }),
    initialFraction: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ capacity, fillRate, initialFraction }) => ({ capacity, fillRate, initialTokens: capacity * initialFraction }));

type SyncOp = { kind: 'consume'; n: number } | { kind: 'advance'; ms: number };
const syncOpArb: fc.Arbitrary<SyncOp> = fc.oneof(
  fc.record({ kind: fc.constant('consume' as const), n: fc.oneof(fc.double({ min: 0, max: 60, noNaN: true }), fc.integer({ min: 0, max: 10 })) }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.double({ min: 0, max: 2000, noNaN: true }), fc.integer({ min: 0, max: 50 })) }),
);

describe('TokenBucket invariants', () => {
  it('admits at most initial + fillRate x elapsed, and the level stays within [0, capacity]', () => {
    fc.assert(
      fc.property(limitArb, fc.array(syncOpArb, { maxLength: 80 }), (limit, ops) => {
        const clock = new ManualClock();
        const bucket = new TokenBucket({ ...limit, clock });
        let admitted = 0;
        for (const op of ops) {
          if (op.kind === 'advance') clock.advance(op.ms);
          else if (bucket.consume(op.n)) admitted += op.n;
          const level = bucket.tokens;
          expect(level).toBeGreaterThanOrEqual(-EPS);
          expect(level).toBeLessThanOrEqual(limit.capacity);
          expect(admitted).toBeLessThanOrEqual(limit.initialTokens + (limit.fillRate * clock.now()) / 1000 + EPS);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a refused consume changes nothing and an admitted one takes exactly n', () => {
    fc.assert(
      fc.property(limitArb, fc.array(syncOpArb, { maxLength: 60 }), (limit, ops) => {
        const clock = new ManualClock();
        const bucket = new TokenBucket({ ...limit, clock });
        for (const op of ops) {
          if (op.kind === 'advance') {
            clock.advance(op.ms);
            continue;
          }
          const before = bucket.tokens;
          const ok = bucket.consume(op.n);
          expect(bucket.tokens).toBeCloseTo(ok ? before - op.n : before, 9);
          if (!ok) expect(before + 1e-9 < op.n || op.n > limit.capacity).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('with several limits, every limit is respected on its own', () => {
    fc.assert(
      fc.property(fc.array(limitArb, { minLength: 2, maxLength: 3 }), fc.array(syncOpArb, { maxLength: 80 }), (limits, ops) => {
        const clock = new ManualClock();
        const bucket = new TokenBucket({ limits, clock });
        let admitted = 0;
        for (const op of ops) {
          if (op.kind === 'advance') clock.advance(op.ms);
          else if (bucket.consume(op.n)) admitted += op.n;
          for (const l of limits) expect(admitted).toBeLessThanOrEqual(l.initialTokens + (l.fillRate * clock.now()) / 1000 + EPS);
          expect(bucket.tokens).toBeGreaterThanOrEqual(-EPS);
          expect(bucket.tokens).toBeLessThanOrEqual(Math.min(...limits.map((l) => l.capacity)));
        }
      }),
      { numRuns: 200 },
    );
  });
});

type AsyncOp =
  | { kind: 'acquire'; n: number }
  | { kind: 'consume'; n: number }
  | { kind: 'abort'; pick: number }
  | { kind: 'advance'; ms: number };

const asyncOpArb = (capacity: number): fc.Arbitrary<AsyncOp> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('acquire' as const), n: fc.double({ min: 0, max: capacity, noNaN: true }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('consume' as const), n: fc.double({ min: 0, max: capacity, noNaN: true }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.double({ min: 0, max: 1500, noNaN: true }) }) },
  );

const asyncScenario = limitArb
  .filter((l) => l.fillRate > 0.5)
  .chain((limit) => fc.tuple(fc.constant(limit), fc.array(asyncOpArb(limit.capacity), { maxLength: 40 })));

describe('AsyncTokenBucket invariants (waiters, aborts)', () => {
  it('serves acquires in request order (skipping aborted ones and zero-token ones, always served at once), never exceeds capacity, and admits at most the rate', async () => {
    await fc.assert(
      fc.asyncProperty(asyncScenario, async ([limit, ops]) => {
        const clock = new ManualClock();
        const bucket = new AsyncTokenBucket({ ...limit, clock });
        const served: number[] = [];
        const aborted = new Set<number>();
        const free = new Set<number>(); // acquire(0): nothing to wait for, so nobody to wait behind
        const controllers: AbortController[] = [];
        const settled: Promise<unknown>[] = [];
        let admitted = 0;
        let sinceCheck = 0;
        const check = () => {
          expect(bucket.tokens).toBeLessThanOrEqual(limit.capacity);
          expect(admitted).toBeLessThanOrEqual(limit.initialTokens + (limit.fillRate * clock.now()) / 1000 + EPS);
        };
        for (const op of ops) {
          if (op.kind === 'acquire') {
            const id = controllers.length;
            const ctl = new AbortController();
            controllers.push(ctl);
            if (op.n === 0) free.add(id);
            settled.push(
              bucket.acquire(op.n, { signal: ctl.signal }).then(
                () => {
                  if (!free.has(id)) served.push(id);
                  admitted += op.n;
                },
                (error: unknown) => {
                  expect((error as Error).name).toBe('AbortError');
                  aborted.add(id);
                },
              ),
            );
          } else if (op.kind === 'consume') {
            if (await bucket.consume(op.n)) admitted += op.n;
          } else if (op.kind === 'abort') {
            if (controllers.length > 0) controllers[op.pick % controllers.length]!.abort();
          } else {
            clock.advance(op.ms);
          }
          if (++sinceCheck % 4 === 0) await flush();
          check();
        }
        // Let every remaining waiter through.
        clock.advance(1e7);
        await Promise.all(settled);
        check();
        expect(served.length + aborted.size + free.size).toBe(controllers.length);
        const expected = controllers.map((_, i) => i).filter((i) => !aborted.has(i) && !free.has(i));
        expect(served).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
});

describe('HierarchicalTokenBucket invariants', () => {
  type Tree = { buckets: HierarchicalTokenBucket[]; clock: ManualClock };
  // root, two children, a grandchild under the first child.
  const build = (limits: { capacity: number; fillRate: number; initialTokens: number }[]): Tree => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ ...limits[0]!, name: 'root', clock });
    const a = new HierarchicalTokenBucket({ ...limits[1]!, name: 'a', parent: root });
    const b = new HierarchicalTokenBucket({ ...limits[2]!, name: 'b', parent: root });
    const a1 = new HierarchicalTokenBucket({ ...limits[3]!, name: 'a1', parent: a });
    return { clock, buckets: [root, a, b, a1] };
  };
  const chainOf = (b: HierarchicalTokenBucket): HierarchicalTokenBucket[] => (b.parent ? [b, ...chainOf(b.parent)] : [b]);

  const opArb = fc.oneof(
    fc.record({ kind: fc.constant('consume' as const), at: fc.nat({ max: 3 }), n: fc.double({ min: 0, max: 40, noNaN: true }) }),
    fc.record({ kind: fc.constant('advance' as const), ms: fc.double({ min: 0, max: 1000, noNaN: true }) }),
  );

  it('levels never go below the float slack; a refused consume changes no level; an admitted one charges exactly the chain', () => {
    fc.assert(
      fc.property(fc.array(limitArb, { minLength: 4, maxLength: 4 }), fc.array(opArb, { maxLength: 60 }), (limits, ops) => {
        const { clock, buckets } = build(limits);
        const admittedAt = buckets.map(() => 0);
        for (const op of ops) {
          if (op.kind === 'advance') {
            clock.advance(op.ms);
            continue;
          }
          const target = buckets[op.at]!;
          const before = buckets.map((b) => b.tokens);
          const ok = target.consume(op.n);
          const after = buckets.map((b) => b.tokens);
          const chain = chainOf(target);
          buckets.forEach((b, i) => {
            // A level within 1e-9 of n counts as covering it (float slack): the take leaves that
            // hair as debt rather than clamping it away, so tiny takes cannot each pass on it.
            expect(after[i]).toBeGreaterThanOrEqual(-2e-9);
            expect(after[i]).toBeLessThanOrEqual(b.capacity);
            const charged = ok && chain.includes(b) ? op.n : 0;
            expect(Math.abs(after[i]! - (before[i]! - charged))).toBeLessThan(1e-8);
            if (ok && chain.includes(b)) admittedAt[i]! += op.n;
          });
          if (!ok) expect(chain.some((b) => b.tokens + 1e-9 < op.n) || op.n > Math.min(...chain.map((b) => b.capacity))).toBe(true);
        }
        // Each level admitted no more than its own initial tokens plus its refill.
        buckets.forEach((b, i) => {
          expect(admittedAt[i]).toBeLessThanOrEqual(limits[i]!.initialTokens + (limits[i]!.fillRate * clock.now()) / 1000 + EPS);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('acquires on a bucket are served in request order; a level is below 0 only by what waiters hold', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(limitArb.filter((l) => l.fillRate > 0.5), { minLength: 4, maxLength: 4 }),
        fc.array(fc.oneof(
          fc.record({ kind: fc.constant('acquire' as const), at: fc.nat({ max: 3 }), frac: fc.double({ min: 0, max: 1, noNaN: true }) }),
          fc.record({ kind: fc.constant('advance' as const), ms: fc.double({ min: 0, max: 1000, noNaN: true }) }),
        ), { maxLength: 30 }),
        async (limits, ops) => {
          const { clock, buckets } = build(limits);
          const served = buckets.map(() => [] as number[]);
          const requested = buckets.map(() => [] as number[]);
          const held = buckets.map(() => 0); // tokens reserved on each level by waiters not yet served
          const all: Promise<void>[] = [];
          let id = 0;
          for (const op of ops) {
            if (op.kind === 'advance') clock.advance(op.ms);
            else {
              const target = buckets[op.at]!;
              const chain = chainOf(target).map((b) => buckets.indexOf(b));
              const n = Math.min(...chainOf(target).map((b) => b.capacity)) * op.frac;
              const me = id++;
              // acquire(0) waits for nobody: it is served at once, out of turn.
              if (n > 0) requested[op.at]!.push(me);
              for (const i of chain) held[i]! += n;
              all.push(target.acquire(n).then(() => {
                if (n > 0) served[op.at]!.push(me);
                for (const i of chain) held[i]! -= n;
              }));
            }
            await flush();
            buckets.forEach((b, i) => expect(b.tokens).toBeGreaterThanOrEqual(-held[i]! - 1e-9));
          }
          // Waiters of siblings compete for the shared ancestors; time heals all.
          for (let i = 0; i < 200 && served.flat().length < requested.flat().length; i++) {
            clock.advance(1000);
            await flush();
          }
          await Promise.all(all);
          expect(served).toEqual(requested);
          for (const b of buckets) expect(b.tokens).toBeGreaterThanOrEqual(-1e-9);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('the fast paths agree with the core', () => {
  // A bucket with one limit runs a hand-written copy of the core's reserve; the same limit next to a
  // second one that never binds runs the several-limits copy, which the next test pins to the core
  // itself. Every decision and level must match.
  const never = { capacity: 1e9, fillRate: 1e9 };
  const opArb = fc.oneof(
    fc.record({ kind: fc.constant('consume' as const), n: fc.oneof(fc.double({ min: 0, max: 60, noNaN: true }), fc.constant(1)) }),
    fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.double({ min: 0, max: 2000, noNaN: true }), fc.constant(1000 / 3)) }),
  );

  it('TokenBucket and KeyedTokenBucket: one limit decides exactly as the same limit among several', () => {
    fc.assert(
      fc.property(limitArb, fc.double({ min: 0, max: 2e12, noNaN: true }), fc.array(opArb, { maxLength: 80 }), (limit, start, ops) => {
        const clock = new ManualClock(start);
        const fast = new TokenBucket({ ...limit, clock });
        const core = new TokenBucket({ limits: [limit, never], clock });
        // Keyed buckets start at a key's first request and start over once full: compared with each other.
        const fastKeyed = new KeyedTokenBucket({ ...limit, clock });
        const coreKeyed = new KeyedTokenBucket({ limits: [limit, never], clock });
        for (const op of ops) {
          if (op.kind === 'advance') {
            clock.advance(op.ms);
            continue;
          }
          const decided = fast.consume(op.n);
          expect(core.consume(op.n)).toBe(decided);
          expect(coreKeyed.consume('k', op.n)).toBe(fastKeyed.consume('k', op.n));
          expect(core.tokens).toBe(fast.tokens);
          expect(coreKeyed.tokens('k')).toBe(fastKeyed.tokens('k'));
        }
      }),
      { numRuns: 500 },
    );
  });

  // The core on the same limits kept in plain arrays, next to the bucket on the same clock, which
  // may step back. consume answers n = 0 and n above a capacity before any refill: so does the mirror.
  const stepArb = fc.oneof(
    opArb,
    fc.record({ kind: fc.constant('advance' as const), ms: fc.double({ min: -500, max: 0, noNaN: true }) }),
  );
  const chainOf = (limits: { capacity: number; fillRate: number; initialTokens: number }[], start: number): Chain => ({
    capacity: limits.map((l) => l.capacity),
    perMs: limits.map((l) => l.fillRate / 1000),
    level: limits.map((l) => l.initialTokens),
    last: limits.map(() => start),
  });

  it('TokenBucket with several limits decides exactly as the core does on the same limits', () => {
    fc.assert(
      fc.property(fc.array(limitArb, { minLength: 2, maxLength: 4 }), fc.double({ min: 0, max: 2e12, noNaN: true }), fc.array(stepArb, { maxLength: 80 }), (limits, start, ops) => {
        let now = start;
        const bucket = new TokenBucket({ limits, clock: { now: () => now } });
        const chain = chainOf(limits, start);
        const fits = Math.min(...chain.capacity);
        for (const op of ops) {
          if (op.kind === 'advance') {
            now += op.ms;
            continue;
          }
          const decided = op.n === 0 || (op.n <= fits && reserve(ARRAYS, chain, op.n, 0, now) === 0);
          expect(bucket.consume(op.n)).toBe(decided);
          advance(ARRAYS, chain, now);
          expect(bucket.tokens).toBe(lowest(ARRAYS, chain));
          if (op.n <= fits) expect(bucket.timeUntil(op.n)).toBe(waitAll(ARRAYS, chain, op.n, now));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('HierarchicalTokenBucket decides exactly as the core does on the chain from the bucket to the root', () => {
    const hierarchyOpArb = fc.oneof(
      stepArb,
      fc.record({ kind: fc.constant('consumeAt' as const), at: fc.nat(3), n: fc.oneof(fc.double({ min: 0, max: 60, noNaN: true }), fc.constant(1)) }),
    );
    fc.assert(
      fc.property(fc.array(limitArb, { minLength: 1, maxLength: 4 }), fc.double({ min: 0, max: 2e12, noNaN: true }), fc.array(hierarchyOpArb, { maxLength: 80 }), (limits, start, ops) => {
        let now = start;
        // Leaf first, as the core sees a chain: buckets[i]'s parent is buckets[i + 1].
        const buckets: HierarchicalTokenBucket[] = [];
        for (let i = limits.length - 1; i >= 0; i--) {
          const parent = buckets[0];
          buckets.unshift(new HierarchicalTokenBucket({ ...limits[i]!, ...(parent ? { parent } : { clock: { now: () => now } }) }));
        }
        const chain = chainOf(limits, start);
        for (const op of ops) {
          if (op.kind === 'advance') {
            now += op.ms;
            continue;
          }
          // A bucket's consume charges it and every ancestor: the tail of the chain from it.
          const from = op.kind === 'consumeAt' ? op.at % buckets.length : 0;
          const tail = tailFrom(from);
          const fits = Math.min(...chain.capacity.slice(from));
          const decided = op.n === 0 || (op.n <= fits && reserve(tail, chain, op.n, 0, now) === 0);
          expect(buckets[from]!.consume(op.n)).toBe(decided);
          advance(ARRAYS, chain, now);
          buckets.forEach((b, i) => expect(b.tokens).toBe(chain.level[i]));
        }
      }),
      { numRuns: 500 },
    );
  });
});

/** A chain of limits in plain arrays, for the core (as in test/core.test.ts). */
interface Chain {
  capacity: number[];
  perMs: number[];
  level: number[];
  last: number[];
}

/** The limits of `chain` from index `from` on, as a chain of their own. */
const tailFrom = (from: number): Limits<Chain> => ({
  count: (c) => c.capacity.length - from,
  capacity: (c, i) => c.capacity[from + i]!,
  perMs: (c, i) => c.perMs[from + i]!,
  level: (c, i) => c.level[from + i]!,
  last: (c, i) => c.last[from + i]!,
  set: (c, i, level, last) => {
    c.level[from + i] = level;
    c.last[from + i] = last;
  },
});

const ARRAYS: Limits<Chain> = tailFrom(0);
