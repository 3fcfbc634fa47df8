import { setMaxListeners } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { AsyncTokenBucket, ManualClock, RateLimitExceeded } from 'bucketflow';

/** Lets every promise callback that is already due run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(limit: { capacity: number; fillRate: number; initialTokens?: number }) {
  const clock = new ManualClock();
  return { clock, bucket: new AsyncTokenBucket({ ...limit, clock }) };
}

describe('AsyncTokenBucket consume', () => {
  it('without block resolves true or false at once', async () => {
    const { bucket } = setup({ capacity: 3, fillRate: 1 });
    expect(await bucket.consume()).toBe(true);
    expect(await bucket.consume(2)).toBe(true);
    expect(await bucket.consume(1)).toBe(false);
    expect(await bucket.consume(0)).toBe(true);
    expect(await bucket.consume(4)).toBe(false); // above capacity, not an error without block
  });

  it('with block waits for the tokens, woken by the ManualClock', async () => {
    const { clock, bucket } = setup({ capacity: 5, fillRate: 10, initialTokens: 0 });
    let result: boolean | undefined;
    const p = bucket.consume(2, { block: true }).then((r) => (result = r));
    clock.advance(199);
    await flush();
    expect(result).toBeUndefined();
    clock.advance(1);
    await p;
    expect(result).toBe(true);
    expect(bucket.tokens).toBeCloseTo(0, 9);
  });

  it('with block resolves false at once, taking nothing, when the wait exceeds maxWait', async () => {
    const { bucket } = setup({ capacity: 5, fillRate: 10, initialTokens: 1 });
    expect(await bucket.consume(3, { block: true, maxWait: 199 })).toBe(false);
    expect(bucket.tokens).toBe(1);
    const { clock, bucket: b2 } = setup({ capacity: 5, fillRate: 10, initialTokens: 1 });
    const p = b2.consume(3, { block: true, maxWait: 200 }); // exactly enough
    clock.advance(200);
    expect(await p).toBe(true);
  });

  it('with block rejects RangeError for n above capacity; a fixed quota resolves false', async () => {
    const { bucket } = setup({ capacity: 5, fillRate: 10 });
    await expect(bucket.consume(6, { block: true })).rejects.toThrow(RangeError);
    const { bucket: quota } = setup({ capacity: 5, fillRate: 0, initialTokens: 0 });
    expect(await quota.consume(1, { block: true })).toBe(false);
  });

  it('with an already-aborted signal rejects with its reason, even without block', async () => {
    const { bucket } = setup({ capacity: 5, fillRate: 1 });
    const reason = new Error('stop');
    const signal = AbortSignal.abort(reason);
    await expect(bucket.consume(1, { signal })).rejects.toBe(reason);
    await expect(bucket.consume(1, { block: true, signal })).rejects.toBe(reason);
    expect(bucket.tokens).toBe(5);
  });
});

describe('AsyncTokenBucket waiters', () => {
  it('are served first come, first served: a large early request is not overtaken by small later ones', async () => {
    const { clock, bucket } = setup({ capacity: 10, fillRate: 10, initialTokens: 0 });
    const order: string[] = [];
    const big = bucket.acquire(8).then(() => order.push(`big@${clock.now()}`));
    const smalls = [1, 2, 3].map((i) => bucket.acquire(1).then(() => order.push(`small${i}@${clock.now()}`)));
    for (let t = 0; t < 12; t++) {
      clock.advance(100);
      await flush();
    }
    await Promise.all([big, ...smalls]);
    expect(order).toEqual(['big@800', 'small1@900', 'small2@1000', 'small3@1100']);
  });

  it('a waiter resolves at the exact time its tokens are earned', async () => {
    const { clock, bucket } = setup({ capacity: 10, fillRate: 3, initialTokens: 0 });
    let at = -1;
    const p = bucket.acquire(1).then(() => (at = clock.now()));
    clock.advance(333);
    await flush();
    expect(at).toBe(-1);
    clock.advance(1);
    await p;
    expect(at).toBe(334);
  });

  it('reserve tokens: the level reads below 0 while they wait, never above capacity', async () => {
    const { clock, bucket } = setup({ capacity: 4, fillRate: 1, initialTokens: 4 });
    const waits = [bucket.acquire(4), bucket.acquire(3), bucket.acquire(2)];
    expect(bucket.tokens).toBeCloseTo(-5, 9);
    clock.advance(10_000);
    await Promise.all(waits);
    expect(bucket.tokens).toBeCloseTo(4, 9); // 5 s of debt paid, 5 s refilled, capped at 4
    clock.advance(10_000);
    expect(bucket.tokens).toBe(4);
  });

  it('acquire with maxWait rejects RateLimitExceeded at once with retryAfter, taking nothing', async () => {
    const { bucket } = setup({ capacity: 10, fillRate: 4, initialTokens: 0 });
    const error = await bucket.acquire(2, { maxWait: 100 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitExceeded);
    expect((error as RateLimitExceeded).retryAfter).toBeCloseTo(500, 9);
    expect(bucket.tokens).toBe(0);
  });

  it('the retryAfter of a refused request counts the waiters ahead of it', async () => {
    const { bucket } = setup({ capacity: 10, fillRate: 10, initialTokens: 0 });
    void bucket.acquire(5);
    const error = (await bucket.acquire(1, { maxWait: 0 }).catch((e: unknown) => e)) as RateLimitExceeded;
    expect(error.retryAfter).toBeCloseTo(600, 9);
  });

  it('acquire(n > capacity) rejects RangeError; a fixed quota rejects RateLimitExceeded with retryAfter Infinity', async () => {
    const { bucket } = setup({ capacity: 3, fillRate: 1 });
    await expect(bucket.acquire(4)).rejects.toThrow(RangeError);
    const { bucket: quota } = setup({ capacity: 3, fillRate: 0, initialTokens: 0 });
    const error = (await quota.acquire(1).catch((e: unknown) => e)) as RateLimitExceeded;
    expect(error).toBeInstanceOf(RateLimitExceeded);
    expect(error.retryAfter).toBe(Infinity);
  });
});

describe('aborting a waiter', () => {
  it('rejects with signal.reason and gives its tokens back without letting anyone jump the queue', async () => {
    const { clock, bucket } = setup({ capacity: 10, fillRate: 10, initialTokens: 0 });
    const order: string[] = [];
    const ctl = new AbortController();
    const reason = { why: 'user left' };
    const a = bucket.acquire(5).then(() => order.push(`a@${clock.now()}`));
    const b = bucket.acquire(3, { signal: ctl.signal });
    const c = bucket.acquire(1).then(() => order.push(`c@${clock.now()}`));
    expect(bucket.tokens).toBeCloseTo(-9, 9);
    clock.advance(100);
    ctl.abort(reason);
    await expect(b).rejects.toBe(reason);
    expect(bucket.tokens).toBeCloseTo(-5, 9); // b's 3 tokens are back
    // The tokens given back are owed to a (ahead): a newcomer gets nothing.
    expect(await bucket.consume(1)).toBe(false);
    clock.advance(399);
    await flush();
    expect(order).toEqual([]);
    clock.advance(1);
    await a;
    clock.advance(100); // c: 1 more token after a's 5
    await c;
    expect(order).toEqual(['a@500', 'c@600']);
  });

  it('aborting the head hands the turn to the next waiter at once if its tokens are there', async () => {
    const { clock, bucket } = setup({ capacity: 10, fillRate: 10, initialTokens: 0 });
    const ctl = new AbortController();
    const head = bucket.acquire(8, { signal: ctl.signal });
    let nextAt = -1;
    const next = bucket.acquire(2).then(() => (nextAt = clock.now()));
    clock.advance(300);
    ctl.abort();
    await expect(head).rejects.toMatchObject({ name: 'AbortError' });
    await next;
    expect(nextAt).toBe(300);
    expect(bucket.tokens).toBeCloseTo(1, 9);
  });

  it('abort after the waiter was served changes nothing', async () => {
    const { clock, bucket } = setup({ capacity: 10, fillRate: 10, initialTokens: 0 });
    const ctl = new AbortController();
    const p = bucket.acquire(2, { signal: ctl.signal });
    clock.advance(200);
    await p;
    ctl.abort();
    await flush();
    expect(bucket.tokens).toBeCloseTo(0, 9);
  });

  it('an already-aborted signal rejects at once and takes nothing', async () => {
    const { bucket } = setup({ capacity: 10, fillRate: 10 });
    const signal = AbortSignal.abort('gone');
    await expect(bucket.acquire(2, { signal })).rejects.toBe('gone');
    expect(bucket.tokens).toBe(10);
  });

  it('a refund after time has passed neither loses nor invents tokens', async () => {
    const { clock, bucket } = setup({ capacity: 10, fillRate: 10, initialTokens: 0 });
    const ctl = new AbortController();
    const p = bucket.acquire(10, { signal: ctl.signal });
    clock.advance(900); // 9 tokens earned towards the waiter
    ctl.abort();
    await p.catch(() => {});
    expect(bucket.tokens).toBeCloseTo(9, 9);
    clock.advance(5000);
    expect(bucket.tokens).toBe(10);
  });

  it('consume({ block, signal }) rejects with the reason on abort', async () => {
    const { bucket } = setup({ capacity: 10, fillRate: 1, initialTokens: 0 });
    const ctl = new AbortController();
    const p = bucket.consume(2, { block: true, signal: ctl.signal });
    ctl.abort(new Error('cancelled'));
    await expect(p).rejects.toThrow('cancelled');
    expect(bucket.tokens).toBe(0);
  });
});

describe('timers', () => {
  it('10,000 waiters arm one timer, not 10,000', async () => {
    const spy = vi.spyOn(globalThis, 'setTimeout');
    try {
      const bucket = new AsyncTokenBucket({ capacity: 1, fillRate: 0.01, initialTokens: 0 }); // real clock, 100 s per token
      const ctl = new AbortController();
      setMaxListeners(20_000, ctl.signal); // one signal for every waiter: Node would warn at 11 listeners
      const waits = Array.from({ length: 10_000 }, () => bucket.acquire(1, { signal: ctl.signal }).catch(() => 'aborted'));
      expect(spy.mock.calls.length).toBeLessThanOrEqual(1);
      ctl.abort();
      expect(new Set(await Promise.all(waits))).toEqual(new Set(['aborted']));
      expect(spy.mock.calls.length).toBeLessThanOrEqual(2);
      expect(bucket.tokens).toBeLessThan(1);
      expect(bucket.tokens).toBeGreaterThanOrEqual(0);
    } finally {
      spy.mockRestore();
    }
  });

  it('10,000 waiters on a ManualClock are all served, in order', async () => {
    const { clock, bucket } = setup({ capacity: 100, fillRate: 1000, initialTokens: 0 });
    const served: number[] = [];
    const waits = Array.from({ length: 10_000 }, (_, i) => bucket.acquire(1).then(() => served.push(i)));
    clock.advance(10_000);
    await Promise.all(waits);
    expect(served).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
  });

  it('a wait longer than 2^31-1 ms works on a ManualClock', async () => {
    const { clock, bucket } = setup({ capacity: 1, fillRate: 1e-10, initialTokens: 0 }); // 1e13 ms per token
    let done = false;
    const p = bucket.acquire(1).then(() => (done = true));
    clock.advance(2 ** 31); // a setTimeout-style overflow would fire here
    await flush();
    expect(done).toBe(false);
    clock.advance(1e13 - 2 ** 31 - 1);
    await flush();
    expect(done).toBe(false);
    clock.advance(1);
    await p;
    expect(done).toBe(true);
  });

  it('a wait longer than 2^31-1 ms on a real clock arms setTimeout with a capped delay, not one that fires at once', async () => {
    const spy = vi.spyOn(globalThis, 'setTimeout');
    try {
      const bucket = new AsyncTokenBucket({ capacity: 1, fillRate: 1e-7, initialTokens: 0 }); // about 116 days
      const ctl = new AbortController();
      let settled = false;
      const p = bucket.acquire(1, { signal: ctl.signal }).finally(() => (settled = true));
      expect(spy).toHaveBeenCalledTimes(1);
      const delay = spy.mock.calls[0]![1]!;
      expect(delay).toBeLessThanOrEqual(2 ** 31 - 1);
      expect(delay).toBeGreaterThan(2 ** 30);
      await new Promise((r) => setTimeout(r, 20));
      expect(settled).toBe(false);
      ctl.abort();
      await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    } finally {
      spy.mockRestore();
    }
  });

  it('a real-clock waiter is woken by its timer', async () => {
    const t0 = performance.now(); // the bucket's time starts when it is made
    const bucket = new AsyncTokenBucket({ capacity: 1, fillRate: 50, initialTokens: 0 }); // 20 ms per token
    await bucket.acquire(1);
    await bucket.acquire(1);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(35);
  });
});
