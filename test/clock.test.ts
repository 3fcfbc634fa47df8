import { describe, expect, it, vi } from 'vitest';
import { AsyncTokenBucket, ManualClock, TokenBucket } from 'bucketflow';
import { isManual, monotonicClock, schedule, scheduleOn } from '../src/clock.js';

describe('ManualClock', () => {
  it('starts at 0 or at the given time and moves only on advance', () => {
    expect(new ManualClock().now()).toBe(0);
    const clock = new ManualClock(1000);
    expect(clock.now()).toBe(1000);
    clock.advance(250.5);
    expect(clock.now()).toBe(1250.5);
    clock.advance(0);
    expect(clock.now()).toBe(1250.5);
  });

  it.each([
    ['-1', -1, RangeError, /ms must be a number of milliseconds >= 0, got -1/],
    ['NaN', Number.NaN, RangeError, /got NaN/],
    ['Infinity', Infinity, RangeError, /got Infinity/],
    ['"5"', '5', TypeError, /ms must be a number, got "5"/],
  ] as const)('advance(%s) throws and leaves the time alone', (_s, ms, Err, message) => {
    const clock = new ManualClock(10);
    expect(() => clock.advance(ms as never)).toThrow(Err);
    expect(() => clock.advance(ms as never)).toThrow(message);
    expect(clock.now()).toBe(10);
  });

  it('rejects a bad start time', () => {
    expect(() => new ManualClock(-1)).toThrow(RangeError);
    expect(() => new ManualClock(Number.NaN)).toThrow(/start .* got NaN/);
    expect(() => new ManualClock('0' as never)).toThrow(TypeError);
  });

  it('runs due timers in time order, ties in the order they were scheduled, each once', () => {
    const clock = new ManualClock();
    const fired: string[] = [];
    const at = (name: string) => () => fired.push(`${name}@${clock.now()}`);
    schedule(clock, 30, at('c'));
    schedule(clock, 10, at('a'));
    schedule(clock, 20, at('b1'));
    schedule(clock, 20, at('b2'));
    schedule(clock, 50, at('late'));
    clock.advance(25);
    // The clock has already moved when timers run: they see the new time, as a real timer would.
    expect(fired).toEqual(['a@25', 'b1@25', 'b2@25']);
    clock.advance(10);
    expect(fired).toEqual(['a@25', 'b1@25', 'b2@25', 'c@35']);
    clock.advance(100);
    expect(fired).toHaveLength(5);
    clock.advance(100);
    expect(fired).toHaveLength(5);
  });

  it('runs a timer scheduled by a timer in the same advance when it is already due', () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    schedule(clock, 10, () => {
      fired.push(1);
      schedule(clock, 0, () => fired.push(2));
      schedule(clock, 5, () => fired.push(3)); // counted from the new time (20): due at 25
    });
    clock.advance(20);
    expect(fired).toEqual([1, 2]);
    clock.advance(5);
    expect(fired).toEqual([1, 2, 3]);
  });

  it('a cancelled timer never fires; cancel is idempotent', () => {
    const clock = new ManualClock();
    const cb = vi.fn();
    const t = schedule(clock, 10, cb);
    t.cancel();
    t.cancel();
    clock.advance(100);
    expect(cb).not.toHaveBeenCalled();
  });

  it('is recognised as manual (a sync blocking wait on it would never end)', () => {
    expect(isManual(new ManualClock())).toBe(true);
    expect(isManual(monotonicClock)).toBe(false);
    expect(isManual({ now: () => 0 })).toBe(false);
    expect(typeof (new ManualClock() as unknown as Record<symbol, unknown>)[scheduleOn]).toBe('function');
  });
});

describe('real clocks', () => {
  it('the default clock is performance.now()', () => {
    const a = monotonicClock.now();
    const b = performance.now();
    expect(Math.abs(b - a)).toBeLessThan(1000);
    expect(monotonicClock.now()).toBeGreaterThanOrEqual(b);
  });

  it('schedule() on a plain clock uses one setTimeout, capped at 2^31-1 ms and at least 1 ms', () => {
    const spy = vi.spyOn(globalThis, 'setTimeout');
    try {
      const long = schedule(monotonicClock, 5e12, () => {});
      const short = schedule(monotonicClock, 0.2, () => {});
      expect(spy).toHaveBeenCalledTimes(2);
      expect(spy.mock.calls[0]![1]).toBe(2 ** 31 - 1);
      expect(spy.mock.calls[1]![1]).toBe(1);
      long.cancel();
      short.cancel();
    } finally {
      spy.mockRestore();
    }
  });

  it('a bucket made while fake timers are installed runs on fake time; one made before keeps real time', async () => {
    const before = new TokenBucket({ capacity: 1, fillRate: 1 });
    before.consume();
    vi.useFakeTimers();
    try {
      const during = new TokenBucket({ capacity: 1, fillRate: 1 });
      const waiting = new AsyncTokenBucket({ capacity: 1, fillRate: 1 });
      during.consume();
      waiting.consume();
      let served = false;
      void waiting.acquire().then(() => (served = true));
      await vi.advanceTimersByTimeAsync(1000);
      expect(during.tokens).toBeCloseTo(1, 9);
      expect(served).toBe(true);
      expect(before.tokens).toBeLessThan(0.5); // 1 s of fake time is not real time
    } finally {
      vi.useRealTimers();
    }
  });

  it('a cancelled real timer does not fire', async () => {
    const cb = vi.fn();
    schedule(monotonicClock, 5, cb).cancel();
    await new Promise((r) => setTimeout(r, 30));
    expect(cb).not.toHaveBeenCalled();
  });
});
