// SharedTokenBucket within one thread, on a ManualClock: the same behaviour as TokenBucket,
// whether used through the bucket that created the buffer or through a handle attached to it.
// test/shared-bucket-workers.test.ts covers real threads.
import { describe, expect, it } from 'vitest';
import { ManualClock, RateLimitExceeded, SharedTokenBucket, threadSharedClock, type Clock } from 'bucketflow';
import type { CaseBucket, CaseDriver, CaseLimit, CaseOptions } from './cases/behaviour-cases.js';
import { runBehaviourCases } from './cases/run-cases.js';

// Lets promise callbacks that are already due run, without letting real time pass.
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

function manualDriver(name: string, make: (limit: CaseLimit, clock: Clock, options: CaseOptions) => CaseBucket, deviations?: Record<string, string>): CaseDriver {
  let clock = new ManualClock();
  return {
    name,
    deviations,
    canBlock: false,
    slackMs: 0,
    create(limit, options) {
      clock = new ManualClock();
      return make(limit, clock, options);
    },
    async advance(ms) {
      clock.advance(ms);
    },
  };
}

runBehaviourCases(manualDriver('SharedTokenBucket', (limit, clock, options) => {
  const b = new SharedTokenBucket({ ...limit, ...options, clock });
  return { consume: async (n, o) => b.consume(n, o), acquire: (n, o) => b.acquire(n, o), tokens: () => b.tokens, penalize: (n) => b.penalize(n), reward: (n) => b.reward(n), setLimits: (l) => b.setLimits(l) };
}));

runBehaviourCases(manualDriver('SharedTokenBucket attached from its handle, with a second, looser limit', (limit, clock, options) => {
  const original = new SharedTokenBucket({ limits: [limit, { capacity: 1000, fillRate: 1000 }], clock });
  const b = SharedTokenBucket.from(original.handle, { ...options, clock });
  // The limits change through the other object, as another thread would change them.
  return { consume: async (n, o) => b.consume(n, o), acquire: (n, o) => b.acquire(n, o), tokens: () => b.tokens, penalize: (n) => b.penalize(n), reward: (n) => b.reward(n), setLimits: (l) => original.setLimits({ limits: [l, { capacity: 1000, fillRate: 1000 }] }) };
}, {
  'setLimits re-times a queued waiter: a faster rate serves it sooner':
    'a thread sees a change made by another when it next uses the bucket or its timer fires: a faster rate can serve its waiters late, never early (README, SharedTokenBucket)',
}));

describe('SharedTokenBucket', () => {
  it('exposes capacity, fillRate, limits and a SharedArrayBuffer handle; attached copies read the configuration from it', () => {
    const b = new SharedTokenBucket({ limits: [{ capacity: 10, fillRate: 10, initialTokens: 4 }, { capacity: 1000, fillRate: 1000 / 3600 }], clock: new ManualClock() });
    expect(b.handle).toBeInstanceOf(SharedArrayBuffer);
    expect(b.capacity).toBe(10);
    expect(b.fillRate).toBeCloseTo(1000 / 3600, 12);
    const other = SharedTokenBucket.from(b.handle);
    expect(other.limits).toEqual([{ capacity: 10, fillRate: 10, initialTokens: 4 }, { capacity: 1000, fillRate: 1000 / 3600, initialTokens: 1000 }]);
    expect(other.capacity).toBe(10);
    expect(other.handle).toBe(b.handle);
    expect(Object.isFrozen(other.limits)).toBe(true);
  });

  it('every attached copy shares the same tokens', () => {
    const clock = new ManualClock();
    const a = new SharedTokenBucket({ capacity: 5, fillRate: 1, clock });
    const b = SharedTokenBucket.from(a.handle, { clock });
    expect(a.consume(3)).toBe(true);
    expect(b.tokens).toBe(2);
    expect(b.consume(3)).toBe(false);
    expect(b.consume(2)).toBe(true);
    expect(a.consume(0.5)).toBe(false);
    expect(a.timeUntil(1)).toBe(1000);
    clock.advance(1000);
    expect(b.consume(1)).toBe(true);
  });

  it('waiters reserve in the shared level: a later reservation through another copy is served after the earlier one', async () => {
    const clock = new ManualClock();
    const a = new SharedTokenBucket({ capacity: 10, fillRate: 10, initialTokens: 0, clock });
    const b = SharedTokenBucket.from(a.handle, { clock });
    const order: string[] = [];
    const first = a.acquire(5).then(() => order.push('a5'));
    const second = b.acquire(1).then(() => order.push('b1'));
    expect(a.tokens).toBe(-6);
    clock.advance(200);
    expect(b.consume(1)).toBe(false); // the earned tokens are owed to the waiters
    clock.advance(300);
    await first;
    expect(order).toEqual(['a5']);
    clock.advance(100);
    await second;
    expect(order).toEqual(['a5', 'b1']);
    expect(a.tokens).toBe(0);
  });

  it('an aborted waiter gives its reservation back to every copy', async () => {
    const clock = new ManualClock();
    const a = new SharedTokenBucket({ capacity: 10, fillRate: 10, initialTokens: 0, clock });
    const b = SharedTokenBucket.from(a.handle, { clock });
    const ctl = new AbortController();
    const big = a.acquire(8, { signal: ctl.signal });
    clock.advance(100);
    ctl.abort(new Error('gone'));
    await expect(big).rejects.toThrow('gone');
    expect(b.tokens).toBeCloseTo(1, 12);
    expect(b.consume(1)).toBe(true);
    await expect(a.acquire(1, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('a thread serves its own waiters first come, first served, with one timer', async () => {
    const clock = new ManualClock();
    const b = new SharedTokenBucket({ capacity: 10, fillRate: 10, initialTokens: 0, clock });
    const order: number[] = [];
    const all = [4, 1, 2].map((n, i) => b.acquire(n).then(() => order.push(i)));
    clock.advance(400);
    await all[0];
    expect(order).toEqual([0]);
    clock.advance(300);
    await Promise.all(all);
    expect(order).toEqual([0, 1, 2]);
  });

  it('refuses waits beyond maxWait with retryAfter, and a spent fixed quota with Infinity, taking nothing', async () => {
    const clock = new ManualClock();
    const b = new SharedTokenBucket({ limits: [{ capacity: 10, fillRate: 10 }, { capacity: 20, fillRate: 1 }], clock });
    b.consume(10);
    const e = await b.acquire(2, { maxWait: 50 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RateLimitExceeded);
    expect((e as RateLimitExceeded).retryAfter).toBe(200);
    expect(b.tokens).toBe(0);
    const quota = new SharedTokenBucket({ capacity: 1, fillRate: 0, clock });
    quota.consume();
    await expect(quota.acquire(1)).rejects.toMatchObject({ retryAfter: Infinity });
    expect(quota.consume(1, { block: true })).toBe(false);
  });

  it('a clock that steps backwards adds and removes nothing', () => {
    const clock = { t: 1000, now() { return this.t; } };
    const b = new SharedTokenBucket({ capacity: 10, fillRate: 10, clock });
    b.consume(10);
    clock.t = 0; // e.g. another thread's clock reading a little behind
    expect(b.tokens).toBe(0);
    expect(b.consume(1)).toBe(false);
    clock.t = 1100;
    expect(b.tokens).toBeCloseTo(1, 9);
  });

  it('a waiter whose clock reading is behind the last refill is served only once its tokens are earned', async () => {
    // Across threads this happens whenever a thread reads the clock, is descheduled, and takes the
    // lock after another thread refilled the bucket to a later time: its reading is stale. Replayed
    // here on one ManualClock whose readings step back after the refill.
    class SteppingBackClock extends ManualClock {
      back = 0;
      override now(): number {
        return super.now() - this.back;
      }
    }
    const clock = new SteppingBackClock();
    const refiller = new SharedTokenBucket({ capacity: 1, fillRate: 1, initialTokens: 0, clock });
    const waiter = SharedTokenBucket.from(refiller.handle, { clock });
    clock.advance(500);
    expect(refiller.tokens).toBe(0.5); // refilled to 500 ms
    clock.back = 500; // the waiter's thread reads 0 ms
    let served = false;
    const acquired = waiter.acquire(1).then(() => {
      served = true;
    });
    clock.advance(500); // reads 500 ms again: the time up to 500 ms is counted already
    await flush();
    expect(served).toBe(false);
    expect(refiller.tokens).toBeCloseTo(-0.5, 9); // the half token still owed is earned at 1000 ms
    clock.advance(499);
    await flush();
    expect(served).toBe(false);
    clock.advance(1);
    await acquired;
    expect(refiller.tokens).toBeCloseTo(0, 9);
  });

  it('a blocking consume sleeps this thread (real time) and refuses to sleep on a ManualClock', () => {
    const b = new SharedTokenBucket({ capacity: 1, fillRate: 50 });
    const t0 = performance.now(); // before the first take: the refill after it counts from then
    expect(b.consume()).toBe(true);
    expect(b.consume(1, { block: true })).toBe(true);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(15); // 20 ms of refill, wide margin
    const slow = new SharedTokenBucket({ capacity: 1, fillRate: 0.001 });
    expect(slow.consume()).toBe(true);
    expect(slow.consume(1, { block: true, maxWait: 1 })).toBe(false); // the next token is 1000 s away
    const manual = new SharedTokenBucket({ capacity: 1, fillRate: 1, initialTokens: 0, clock: new ManualClock() });
    expect(() => manual.consume(1, { block: true })).toThrow(/ManualClock/);
    expect(manual.tokens).toBe(0);
  });

  it('validates options, handles and arguments with errors naming them', async () => {
    const b = new SharedTokenBucket({ capacity: 2, fillRate: 1, clock: new ManualClock() });
    expect(() => new SharedTokenBucket(undefined as never)).toThrow(TypeError);
    expect(() => new SharedTokenBucket({ capacity: -1, fillRate: 1 })).toThrow(/capacity must be a finite number > 0, got -1/);
    expect(() => new SharedTokenBucket({ capacity: 1, fillRate: 1, maxKeys: 1 } as never)).toThrow(/unknown option "maxKeys"/);
    expect(() => SharedTokenBucket.from(new ArrayBuffer(56) as never)).toThrow(/handle must be the SharedArrayBuffer/);
    expect(() => SharedTokenBucket.from(new SharedArrayBuffer(56))).toThrow(/not the SharedArrayBuffer of a SharedTokenBucket/);
    expect(() => SharedTokenBucket.from(new SharedArrayBuffer(8))).toThrow(TypeError);
    expect(() => SharedTokenBucket.from(b.handle, { capacity: 3 } as never)).toThrow(/unknown option "capacity"/);
    expect(() => b.consume(-1)).toThrow(RangeError);
    expect(() => b.consume(3, { block: true })).toThrow(RangeError);
    expect(b.consume(3)).toBe(false);
    expect(() => b.timeUntil(Number.NaN)).toThrow(RangeError);
    expect(b.timeUntil(3)).toBe(Infinity);
    await expect(b.acquire(3)).rejects.toThrow(RangeError);
    await expect(b.acquire(1, { maxWait: -5 })).rejects.toThrow(/maxWait/);
    expect(b.consume(0)).toBe(true);
    expect(b.tokens).toBe(2);
  });

  it('threadSharedClock moves forward in milliseconds', async () => {
    const t0 = threadSharedClock.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const elapsed = threadSharedClock.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(15);
    expect(elapsed).toBeLessThan(5000);
  });
});
