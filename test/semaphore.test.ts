// The local Semaphore: never more than `limit` holders, first come first served, waits bounded by
// maxWait on one timer, aborts that leave the queue, leases that free their slot exactly once.
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { ManualClock, RateLimitExceeded, Semaphore, type Lease } from 'bucketflow';

/** Lets every promise callback that is already due run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(limit: number) {
  const clock = new ManualClock();
  return { clock, sem: new Semaphore({ limit, clock }) };
}

describe('Semaphore options', () => {
  it('names a bad or missing limit, and unknown options', () => {
    expect(() => new Semaphore(undefined as never)).toThrow(TypeError);
    expect(() => new Semaphore({} as never)).toThrow(/limit is required/);
    expect(() => new Semaphore({ limit: '3' as never })).toThrow(new TypeError('limit must be a number (how many holders at once), got "3"'));
    for (const bad of [0, -1, 1.5, Infinity, Number.NaN]) {
      expect(() => new Semaphore({ limit: bad })).toThrow(RangeError);
    }
    expect(() => new Semaphore({ limit: 0 })).toThrow('limit must be an integer >= 1, got 0');
    expect(() => new Semaphore({ limit: 2, max: 3 } as never)).toThrow(/unknown option "max"/);
    expect(() => new Semaphore({ limit: 2, clock: {} as never })).toThrow(/clock must be an object with a now\(\) method/);
  });

  it('rejects bad acquire options without queueing', async () => {
    const { sem } = setup(1);
    await expect(sem.acquire({ maxWait: -1 })).rejects.toThrow(RangeError);
    await expect(sem.acquire({ signal: 'no' as never })).rejects.toThrow(TypeError);
    await expect(sem.acquire({ wait: 1 } as never)).rejects.toThrow(/unknown option "wait"/);
    await expect(sem.run('not a function' as never)).rejects.toThrow(TypeError);
    expect(sem.inUse).toBe(0);
    expect(sem.waiting).toBe(0);
  });

  it('has a read-only limit', () => {
    const { sem } = setup(3);
    expect(sem.limit).toBe(3);
    expect(() => {
      (sem as { limit: number }).limit = 10;
    }).toThrow(TypeError);
  });
});

describe('Semaphore acquire and release', () => {
  it('hands out up to limit slots, then queues', async () => {
    const { sem } = setup(2);
    const a = await sem.acquire();
    const b = sem.tryAcquire();
    expect(b).toBeDefined();
    expect(sem.inUse).toBe(2);
    expect(sem.tryAcquire()).toBeUndefined();
    let c: Lease | undefined;
    void sem.acquire().then((l) => (c = l));
    await flush();
    expect(c).toBeUndefined();
    expect(sem.waiting).toBe(1);
    a.release();
    await flush();
    expect(c).toBeDefined();
    expect(sem.inUse).toBe(2);
    expect(sem.waiting).toBe(0);
    b!.release();
    c!.release();
    expect(sem.inUse).toBe(0);
  });

  it('serves waiters first come, first served, and tryAcquire never jumps the queue', async () => {
    const { sem } = setup(1);
    const first = await sem.acquire();
    const order: number[] = [];
    const waits = [1, 2, 3, 4].map((i) => sem.acquire().then((l) => {
      order.push(i);
      return l;
    }));
    await flush();
    first.release();
    // The slot went to waiter 1 at once: nobody can take it, waiting or not.
    expect(sem.tryAcquire()).toBeUndefined();
    for (let i = 0; i < 4; i++) {
      const lease = await waits[i]!;
      expect(sem.tryAcquire()).toBeUndefined();
      lease.release();
    }
    expect(order).toEqual([1, 2, 3, 4]);
    expect(sem.tryAcquire()).toBeDefined();
  });

  it('release is idempotent: a double release frees one slot', async () => {
    const { sem } = setup(2);
    const a = await sem.acquire();
    const b = await sem.acquire();
    expect(a.released).toBe(false);
    a.release();
    a.release();
    expect(a.released).toBe(true);
    expect(sem.inUse).toBe(1);
    const c = await sem.acquire();
    expect(sem.tryAcquire()).toBeUndefined(); // b and c hold both slots
    b.release();
    c.release();
    expect(sem.inUse).toBe(0);
  });

  it('maxWait 0 refuses at once when full, with RateLimitExceeded', async () => {
    const { sem } = setup(1);
    await sem.acquire();
    const refused = await sem.acquire({ maxWait: 0 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitExceeded);
    expect((refused as RateLimitExceeded).retryAfter).toBe(0);
    expect((refused as Error).message).toMatch(/concurrency limit reached.*limit 1, 1 in use/);
    expect(sem.waiting).toBe(0);
  });

  it('maxWait refuses a waiter still queued when it runs out, and the ones behind keep their turn', async () => {
    const { clock, sem } = setup(1);
    const held = await sem.acquire();
    const short = sem.acquire({ maxWait: 100 }).catch((e: unknown) => e);
    const long = sem.acquire({ maxWait: 1000 });
    clock.advance(99);
    await flush();
    expect(sem.waiting).toBe(2);
    clock.advance(1);
    expect(await short).toBeInstanceOf(RateLimitExceeded);
    expect(sem.waiting).toBe(1);
    held.release();
    const lease = await long;
    expect(sem.inUse).toBe(1);
    lease.release();
  });

  it('a slot freed at a waiter\'s deadline goes to it', async () => {
    const { clock, sem } = setup(1);
    const held = await sem.acquire();
    const waiting = sem.acquire({ maxWait: 50 });
    clock.advance(30);
    held.release();
    clock.advance(50);
    await expect(waiting).resolves.toBeDefined();
  });

  it('keeps one timer for many waiters with deadlines', async () => {
    vi.useFakeTimers();
    try {
      const sem = new Semaphore({ limit: 1 });
      const spy = vi.spyOn(globalThis, 'setTimeout');
      const held = await sem.acquire();
      const waits = Array.from({ length: 1000 }, (_, i) => sem.acquire({ maxWait: 10_000 + 10 * i }).catch((e: unknown) => e));
      expect(spy.mock.calls.length).toBe(1);
      // An earlier deadline than the armed one re-arms: still one live timer.
      const early = sem.acquire({ maxWait: 5 }).catch((e: unknown) => e);
      expect(vi.getTimerCount()).toBe(1);
      await vi.advanceTimersByTimeAsync(5);
      expect(await early).toBeInstanceOf(RateLimitExceeded);
      for (let t = 0; t < 20_000; t += 1000) {
        await vi.advanceTimersByTimeAsync(1000);
        expect(vi.getTimerCount()).toBeLessThanOrEqual(1);
      }
      const results = await Promise.all(waits);
      expect(results.every((r) => r instanceof RateLimitExceeded)).toBe(true);
      expect(vi.getTimerCount()).toBe(0);
      held.release();
      expect(sem.inUse).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('an abort rejects with signal.reason and removes the waiter', async () => {
    const { sem } = setup(1);
    const held = await sem.acquire();
    const ctl = new AbortController();
    const aborted = sem.acquire({ signal: ctl.signal }).catch((e: unknown) => e);
    const next = sem.acquire();
    await flush();
    expect(sem.waiting).toBe(2);
    ctl.abort(new Error('gone'));
    expect(((await aborted) as Error).message).toBe('gone');
    expect(sem.waiting).toBe(1);
    held.release();
    (await next).release();
    expect(sem.inUse).toBe(0);
    // An already-aborted signal rejects without taking a free slot.
    const done = AbortSignal.abort('early');
    await expect(sem.acquire({ signal: done })).rejects.toBe('early');
    expect(sem.inUse).toBe(0);
  });
});

describe('Semaphore run and dispose', () => {
  it('run releases when fn resolves, rejects or throws, and passes results and errors through', async () => {
    const { sem } = setup(1);
    expect(await sem.run(async () => 42)).toBe(42);
    expect(sem.inUse).toBe(0);
    await expect(sem.run(() => Promise.reject(new Error('async boom')))).rejects.toThrow('async boom');
    expect(sem.inUse).toBe(0);
    await expect(sem.run(() => {
      throw new Error('sync boom');
    })).rejects.toThrow('sync boom');
    expect(sem.inUse).toBe(0);
    let seen: Lease | undefined;
    await sem.run((lease) => {
      seen = lease;
      expect(sem.inUse).toBe(1);
    });
    expect(seen?.released).toBe(true);
  });

  it('run refuses like acquire when no slot comes in time', async () => {
    const { sem } = setup(1);
    const held = await sem.acquire();
    const fn = vi.fn();
    await expect(sem.run(fn, { maxWait: 0 })).rejects.toBeInstanceOf(RateLimitExceeded);
    expect(fn).not.toHaveBeenCalled();
    held.release();
  });

  it('Symbol.dispose and Symbol.asyncDispose release the slot', async () => {
    const { sem } = setup(1);
    const a = await sem.acquire();
    a[Symbol.dispose]();
    expect(sem.inUse).toBe(0);
    const b = await sem.acquire();
    await b[Symbol.asyncDispose]();
    expect(sem.inUse).toBe(0);
    b.release(); // after dispose: still one release
    expect(sem.inUse).toBe(0);
  });

  it('works with a using declaration', async () => {
    const { sem } = setup(1);
    {
      using lease = await sem.acquire();
      expect(lease.released).toBe(false);
      expect(sem.inUse).toBe(1);
    }
    expect(sem.inUse).toBe(0);
  });
});

describe('Semaphore under load (property)', () => {
  it('200 concurrent run() calls with random hold times, deadlines and aborts never exceed the limit, and all settle', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 8 }),
      fc.array(fc.record({
        hold: fc.integer({ min: 0, max: 50 }),
        maxWait: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
        abortAfter: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
        throws: fc.boolean(),
      }), { minLength: 200, maxLength: 200 }),
      async (limit, calls) => {
        const { clock, sem } = setup(limit);
        let running = 0;
        let most = 0;
        const started: number[] = [];
        const timers: { at: number; fire: () => void }[] = [];
        const results = calls.map((c, i) => {
          const ctl = new AbortController();
          if (c.abortAfter !== undefined) timers.push({ at: c.abortAfter, fire: () => ctl.abort(new Error('aborted')) });
          return sem.run(async () => {
            running++;
            most = Math.max(most, running);
            started.push(i);
            await new Promise<void>((resolve) => timers.push({ at: clock.now() + c.hold, fire: resolve }));
            running--;
            if (c.throws) throw new Error('fn failed');
            return i;
          }, { maxWait: c.maxWait, signal: ctl.signal }).then(
            (v) => ({ ok: v === i }),
            (e: unknown) => ({ ok: e instanceof RateLimitExceeded || (e as Error).message === 'aborted' || (e as Error).message === 'fn failed' }),
          );
        });
        // Drive time 1 ms at a time, firing the test's own timers (holds, aborts) as they fall due.
        for (let t = 0; t <= 20_000 && (running > 0 || sem.waiting > 0 || timers.length > 0); t++) {
          await flush();
          for (const timer of timers.filter((x) => x.at <= clock.now())) {
            timers.splice(timers.indexOf(timer), 1);
            timer.fire();
          }
          await flush();
          expect(running).toBeLessThanOrEqual(limit);
          expect(sem.inUse).toBeLessThanOrEqual(limit);
          clock.advance(1);
        }
        const settled = await Promise.all(results);
        expect(settled.every((r) => r.ok)).toBe(true);
        expect(most).toBeLessThanOrEqual(limit);
        expect(sem.inUse).toBe(0);
        expect(sem.waiting).toBe(0);
        // Every call without a deadline or an abort ran in the end.
        for (const [i, c] of calls.entries()) {
          if (c.maxWait === undefined && c.abortAfter === undefined) expect(started).toContain(i);
        }
      },
    ), { numRuns: 15 });
  });
});
