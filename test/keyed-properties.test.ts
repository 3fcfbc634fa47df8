// All-or-nothing across several limits on the keyed limiter (fast-check), against a model made of
// one single-limit TokenBucket per key and limit: a request passes exactly when every limit has
// the tokens, a refused one charges no limit, and the wait reported is the longest.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyedTokenBucket, ManualClock, RateLimitExceeded, TokenBucket } from 'bucketflow';

const limitArb = fc.record({
  capacity: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.double({ min: 0.5, max: 20, noNaN: true })),
  fillRate: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 }), fc.double({ min: 0, max: 50, noNaN: true })),
});

const keyArb = fc.constantFrom('a', 'b', 'c', 'd');
type Op =
  | { kind: 'consume'; key: string; n: number }
  | { kind: 'check'; key: string; n: number }
  | { kind: 'advance'; ms: number };
const nArb = fc.oneof(fc.integer({ min: 0, max: 12 }), fc.double({ min: 0, max: 12, noNaN: true }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('consume' as const), key: keyArb, n: nArb }),
  fc.record({ kind: fc.constant('check' as const), key: keyArb, n: nArb }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.double({ min: 0, max: 3000, noNaN: true })) }),
);

describe('KeyedTokenBucket with several limits: all or nothing', () => {
  it('passes exactly when every limit has the tokens, charges none when refused, reports the longest wait', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(limitArb, { minLength: 2, maxLength: 3 }), fc.array(opArb, { maxLength: 60 }), fc.boolean(), async (limits, ops, bounded) => {
        const clock = new ManualClock();
        const keyed = new KeyedTokenBucket({ limits, clock, ...(bounded ? { maxKeys: 10 } : {}) });
        const model = new Map<string, TokenBucket[]>();
        const shadows = (key: string) => {
          let s = model.get(key);
          if (s === undefined) {
            s = limits.map((l) => new TokenBucket({ ...l, clock }));
            model.set(key, s);
          }
          return s;
        };
        for (const op of ops) {
          if (op.kind === 'advance') {
            clock.advance(op.ms);
            continue;
          }
          const s = shadows(op.key);
          const fits = op.n <= keyed.capacity;
          const longest = fits ? Math.max(...s.map((b) => b.timeUntil(op.n))) : Infinity;
          if (op.kind === 'consume') {
            const ok = keyed.consume(op.key, op.n);
            expect(ok).toBe(fits && longest === 0);
            if (ok) for (const b of s) expect(b.consume(op.n)).toBe(true);
          } else {
            const error = await keyed.acquire(op.key, op.n, { maxWait: 0 }).then(() => undefined, (e: unknown) => e);
            if (!fits) expect(error).toBeInstanceOf(RangeError);
            else if (longest === 0) {
              expect(error).toBeUndefined();
              for (const b of s) expect(b.consume(op.n)).toBe(true);
            } else {
              expect(error).toBeInstanceOf(RateLimitExceeded);
              const retryAfter = (error as RateLimitExceeded).retryAfter;
              if (longest === Infinity) expect(retryAfter).toBe(Infinity);
              else expect(Math.abs(retryAfter - longest)).toBeLessThanOrEqual(1e-6 * Math.max(1, longest));
            }
          }
          // Every limit's level matches its own bucket: the lowest is what tokens() reports.
          expect(keyed.tokens(op.key)).toBeCloseTo(Math.min(...s.map((b) => b.tokens)), 9);
          expect(keyed.size).toBeLessThanOrEqual(bounded ? 10 : 4);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a key never gets more than the tightest limit allows over any run', () => {
    fc.assert(
      fc.property(fc.array(limitArb, { minLength: 2, maxLength: 3 }), fc.array(opArb, { maxLength: 80 }), (limits, ops) => {
        const clock = new ManualClock();
        const keyed = new KeyedTokenBucket({ limits, clock });
        const admitted = new Map<string, number>();
        for (const op of ops) {
          if (op.kind === 'advance') clock.advance(op.ms);
          else if (keyed.consume(op.key, op.n)) admitted.set(op.key, (admitted.get(op.key) ?? 0) + op.n);
        }
        const allowed = Math.min(...limits.map((l) => l.capacity + (l.fillRate * clock.now()) / 1000));
        for (const total of admitted.values()) expect(total).toBeLessThanOrEqual(allowed + 1e-6);
      }),
      { numRuns: 300 },
    );
  });
});
