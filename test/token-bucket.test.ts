import { describe, expect, it } from 'vitest';
import { ManualClock, RateLimitExceeded, TokenBucket, type Clock } from 'bucketflow';

/** A clock the test sets by hand, free to step backwards (which a real clock may do). */
class SettableClock implements Clock {
  t = 0;
  now(): number {
    return this.t;
  }
}

describe('TokenBucket basics', () => {
  it('starts full and exposes capacity, fillRate and the limits as configured', () => {
    const b = new TokenBucket({ capacity: 10, fillRate: 2, clock: new ManualClock() });
    expect(b.capacity).toBe(10);
    expect(b.fillRate).toBe(2);
    expect(b.tokens).toBe(10);
    expect(b.limits).toEqual([{ capacity: 10, fillRate: 2, initialTokens: 10 }]);
    expect(Object.isFrozen(b.limits)).toBe(true);
  });

  it('refills at fillRate tokens per second (not per millisecond)', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ capacity: 10, fillRate: 4, initialTokens: 0, clock });
    clock.advance(500);
    expect(b.tokens).toBeCloseTo(2, 12);
    expect(b.consume(2)).toBe(true);
    expect(b.consume(0.01)).toBe(false);
    clock.advance(250);
    expect(b.tokens).toBeCloseTo(1, 12);
  });

  it('never holds more than capacity, however long it idles', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ capacity: 3, fillRate: 100, initialTokens: 0, clock });
    clock.advance(1e9);
    expect(b.tokens).toBe(3);
    expect(b.consume(3)).toBe(true);
    expect(b.consume(0.5)).toBe(false);
  });

  it('a refused consume takes nothing; consume(0) always succeeds', () => {
    const b = new TokenBucket({ capacity: 5, fillRate: 0, initialTokens: 2, clock: new ManualClock() });
    expect(b.consume(3)).toBe(false);
    expect(b.tokens).toBe(2);
    expect(b.consume(0)).toBe(true);
    expect(b.consume(2)).toBe(true);
    expect(b.consume(0)).toBe(true);
    expect(b.tokens).toBe(0);
  });

  it('n above capacity is false without block and a RangeError with block, taking nothing', () => {
    const b = new TokenBucket({ capacity: 5, fillRate: 1, clock: new ManualClock() });
    expect(b.consume(6)).toBe(false);
    expect(b.consume(6, { block: false })).toBe(false);
    expect(() => b.consume(6, { block: true })).toThrow(RangeError);
    expect(() => b.consume(6, { block: true })).toThrow(/n \(6\) exceeds the bucket's capacity \(5\)/);
    expect(b.tokens).toBe(5);
  });

  it('fractions add up without float drift refusing the last one', () => {
    const b = new TokenBucket({ capacity: 1, fillRate: 0, clock: new ManualClock() });
    for (let i = 0; i < 10; i++) expect(b.consume(0.1)).toBe(true);
    expect(b.consume(0.1)).toBe(false);
  });

  it('uses performance.now() by default', () => {
    const b = new TokenBucket({ capacity: 2, fillRate: 1 });
    expect(b.consume(2)).toBe(true);
    expect(b.tokens).toBeLessThan(0.5);
  });
});

describe('a clock that steps backwards', () => {
  it('adds and removes nothing, and the time is not counted twice when it comes back', () => {
    const clock = new SettableClock();
    clock.t = 1000;
    const b = new TokenBucket({ capacity: 10, fillRate: 10, clock }); // 0.01 token per ms
    expect(b.consume(10)).toBe(true);
    clock.t = 400; // backwards by 600 ms
    expect(b.tokens).toBe(0);
    expect(b.consume(0.5)).toBe(false);
    expect(b.timeUntil(1)).toBeCloseTo(100, 9);
    clock.t = 1000; // back where it was: nothing earned
    expect(b.tokens).toBe(0);
    clock.t = 1100;
    expect(b.tokens).toBeCloseTo(1, 9);
  });

  it('does not remove tokens from a full bucket either', () => {
    const clock = new SettableClock();
    clock.t = 5000;
    const b = new TokenBucket({ capacity: 4, fillRate: 1, initialTokens: 3, clock });
    clock.t = 0;
    expect(b.tokens).toBe(3);
    expect(b.consume(3)).toBe(true);
  });
});

describe('timeUntil', () => {
  it('is 0 when the tokens are there, the exact wait when not, Infinity when never', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ capacity: 10, fillRate: 4, initialTokens: 1, clock });
    expect(b.timeUntil()).toBe(0);
    expect(b.timeUntil(0)).toBe(0);
    expect(b.timeUntil(3)).toBeCloseTo(500, 9);
    expect(b.timeUntil(10)).toBeCloseTo(2250, 9);
    expect(b.timeUntil(10.01)).toBe(Infinity);
    clock.advance(500);
    expect(b.timeUntil(3)).toBeCloseTo(0, 9);
    expect(b.consume(3)).toBe(true);
  });

  it('is Infinity for a fixed quota (fillRate 0) that is short', () => {
    const b = new TokenBucket({ capacity: 2, fillRate: 0, initialTokens: 1, clock: new ManualClock() });
    expect(b.timeUntil(1)).toBe(0);
    expect(b.timeUntil(2)).toBe(Infinity);
  });

  it('waiting exactly timeUntil(n) is always enough (no float shortfall)', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ capacity: 10, fillRate: 3, initialTokens: 0, clock });
    for (const n of [0.1, 0.7, 1, 2.9, 3.3]) {
      clock.advance(b.timeUntil(n));
      expect(b.consume(n)).toBe(true);
    }
  });
});

describe('blocking consume (real time: the point is that the thread really sleeps)', () => {
  it('sleeps until the tokens are there, without spinning the CPU', () => {
    // 20 tokens/s from empty: one token takes 50 ms, counted from the bucket's creation.
    const t0 = performance.now();
    const b = new TokenBucket({ capacity: 1, fillRate: 20, initialTokens: 0 });
    const cpu0 = process.cpuUsage();
    expect(b.consume(1, { block: true })).toBe(true);
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    expect(wall).toBeGreaterThanOrEqual(45);
    expect(wall).toBeLessThan(2000);
    // A busy loop would burn about as much CPU as wall time passes.
    expect(cpuMs).toBeLessThan(wall * 0.5);
  });

  it('does not sleep when the tokens are already there', () => {
    const b = new TokenBucket({ capacity: 5, fillRate: 0.001 });
    const t0 = performance.now();
    expect(b.consume(5, { block: true })).toBe(true);
    expect(performance.now() - t0).toBeLessThan(1000); // a token takes 1000 s: any sleep would show
  });

  it('returns false at once, taking nothing, when the wait would exceed maxWait', () => {
    const b = new TokenBucket({ capacity: 10, fillRate: 1, initialTokens: 2 });
    const t0 = performance.now();
    expect(b.consume(5, { block: true, maxWait: 1000 })).toBe(false); // needs about 3 s
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(b.tokens).toBeGreaterThanOrEqual(2);
    expect(b.tokens).toBeLessThan(2.5);
  });

  it('returns false at once for a fixed quota (it would wait forever)', () => {
    const b = new TokenBucket({ capacity: 3, fillRate: 0, initialTokens: 0 });
    expect(b.consume(1, { block: true })).toBe(false);
  });

  it('maxWait is ignored without block', () => {
    const b = new TokenBucket({ capacity: 3, fillRate: 1000, initialTokens: 0, clock: new ManualClock() });
    expect(b.consume(1, { maxWait: 1e9 })).toBe(false);
  });

  it('on a ManualClock it throws TypeError instead of sleeping forever, taking nothing', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ capacity: 5, fillRate: 1, initialTokens: 1, clock });
    expect(() => b.consume(2, { block: true })).toThrow(TypeError);
    expect(() => b.consume(2, { block: true })).toThrow(/ManualClock.*acquire/);
    expect(b.tokens).toBe(1);
    // No wait needed, or a wait longer than maxWait: nothing would sleep, so no error.
    expect(b.consume(1, { block: true })).toBe(true);
    expect(b.consume(2, { block: true, maxWait: 100 })).toBe(false);
  });
});

describe('waiters and the sync bucket', () => {
  it('acquire() gives the promise form, woken by a ManualClock', async () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ capacity: 5, fillRate: 10, initialTokens: 0, clock });
    let done = false;
    const p = b.acquire(2).then(() => (done = true));
    clock.advance(150);
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(50);
    await p;
    expect(done).toBe(true);
    expect(b.tokens).toBeCloseTo(0, 9);
  });

  it('acquire(n, { maxWait: 0 }) reports retryAfter without waiting or taking', async () => {
    const b = new TokenBucket({ capacity: 5, fillRate: 4, initialTokens: 1, clock: new ManualClock() });
    const error = await b.acquire(3, { maxWait: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitExceeded);
    expect((error as RateLimitExceeded).retryAfter).toBeCloseTo(500, 9);
    expect((error as RateLimitExceeded).message).toMatch(/retry after 500 ms/);
    expect(b.tokens).toBe(1);
  });

  it('non-blocking consume returns false while waiters are owed the tokens', async () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ capacity: 10, fillRate: 10, initialTokens: 0, clock });
    const p = b.acquire(5);
    clock.advance(400); // 4 tokens earned, all owed to the waiter
    expect(b.consume(1)).toBe(false);
    expect(b.consume(0)).toBe(true);
    clock.advance(100);
    await p;
    expect(b.consume(1)).toBe(false);
    clock.advance(100);
    expect(b.consume(1)).toBe(true);
  });

  it('a blocking consume queues behind waiters: it waits for what they are owed plus its own n', () => {
    // Real clock, but maxWait 0 means the call never sleeps: it only reports it would have to.
    const b = new TokenBucket({ capacity: 10, fillRate: 100, initialTokens: 0 });
    const ctl = new AbortController();
    const waiting = b.acquire(5, { signal: ctl.signal }).catch(() => 'aborted');
    expect(b.timeUntil(1)).toBeGreaterThan(50); // 6 tokens at 100/s
    expect(b.consume(1, { block: true, maxWait: 40 })).toBe(false);
    ctl.abort();
    return waiting;
  });
});

describe('several limits on one bucket', () => {
  it('charges every limit, all or nothing, and waits for the slowest', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({
      limits: [
        { capacity: 5, fillRate: 5 }, // burst 5, 5 per second
        { capacity: 8, fillRate: 1, initialTokens: 8 }, // at most 8, then 1 per second
      ],
      clock,
    });
    expect(b.capacity).toBe(5);
    expect(b.fillRate).toBe(1);
    expect(b.consume(5)).toBe(true);
    clock.advance(1000); // first limit full again (5), second has 3 + 1 = 4
    expect(b.tokens).toBeCloseTo(4, 9);
    expect(b.consume(5)).toBe(false); // refused: neither limit changes
    expect(b.tokens).toBeCloseTo(4, 9);
    expect(b.timeUntil(5)).toBeCloseTo(1000, 9); // the second limit is the slow one
    expect(b.consume(4)).toBe(true);
    expect(b.tokens).toBeCloseTo(0, 9);
    clock.advance(1000);
    expect(b.tokens).toBeCloseTo(1, 9); // limited by the second limit, although the first holds 5
  });

  it('waiters reserve on every limit', async () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ limits: [{ capacity: 10, fillRate: 10, initialTokens: 0 }, { capacity: 4, fillRate: 2, initialTokens: 0 }], clock });
    const order: string[] = [];
    const a = b.acquire(3).then(() => order.push('a'));
    const c = b.acquire(1).then(() => order.push('c'));
    expect(b.tokens).toBeCloseTo(-4, 9);
    clock.advance(1499);
    await Promise.resolve();
    expect(order).toEqual([]);
    clock.advance(1);
    await a;
    expect(order).toEqual(['a']);
    clock.advance(500);
    await c;
    expect(order).toEqual(['a', 'c']);
  });

  it('an aborted waiter gives its tokens back to every limit', async () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ limits: [{ capacity: 10, fillRate: 1, initialTokens: 5 }, { capacity: 20, fillRate: 1, initialTokens: 6 }], clock });
    const ctl = new AbortController();
    const p = b.acquire(8, { signal: ctl.signal });
    expect(b.tokens).toBeCloseTo(-3, 9);
    ctl.abort();
    await expect(p).rejects.toThrow();
    expect(b.tokens).toBeCloseTo(5, 9);
    expect(b.consume(5)).toBe(true);
  });

  it('with a maxWait-0 acquire and a fixed-quota second limit, retryAfter is Infinity', async () => {
    const b = new TokenBucket({ limits: [{ capacity: 5, fillRate: 5 }, { capacity: 5, fillRate: 0, initialTokens: 1 }], clock: new ManualClock() });
    expect(b.consume(1)).toBe(true);
    const error = await b.acquire(1, { maxWait: 0 }).catch((e: unknown) => e);
    expect((error as RateLimitExceeded).retryAfter).toBe(Infinity);
    expect((error as RateLimitExceeded).message).toMatch(/never/);
  });
});
