import { describe, expect, it, vi } from 'vitest';
import { AsyncTokenBucket, HierarchicalTokenBucket, ManualClock, RateLimitExceeded, Semaphore, TokenBucket, rateLimit } from 'bucketflow';
import { asyncRateLimit } from 'bucketflow/async';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('rateLimit as a higher-order function', () => {
  it('wraps a sync function: same arguments, result as a promise', async () => {
    const add = vi.fn((a: number, b: number) => a + b);
    const limited = rateLimit({ tokensPerSecond: 10 })(add);
    const p = limited(2, 3);
    expect(p).toBeInstanceOf(Promise);
    expect(await p).toBe(5);
    expect(add).toHaveBeenCalledWith(2, 3);
  });

  it('wraps an async function and resolves with its result (not a nested promise)', async () => {
    const limited = rateLimit({ tokensPerSecond: 10 })(async (id: string) => ({ id }));
    await expect(limited('x')).resolves.toEqual({ id: 'x' });
  });

  it('keeps the caller\'s this and the function name', async () => {
    function describeSelf(this: { name: string }, suffix: string) {
      return `${this.name}${suffix}`;
    }
    const limited = rateLimit({ tokensPerSecond: 10 })(describeSelf);
    const obj = { name: 'obj', limited };
    expect(await obj.limited('!')).toBe('obj!');
    expect(await limited.call({ name: 'other' }, '?')).toBe('other?');
    expect(limited.name).toBe('describeSelf');
  });

  it('lets errors pass through unchanged (same object), sync throws and async rejections alike', async () => {
    const boom = new Error('boom');
    const odd = { not: 'an error' };
    await expect(rateLimit({ tokensPerSecond: 10 })(() => { throw boom; })()).rejects.toBe(boom);
    await expect(rateLimit({ tokensPerSecond: 10 })(async () => { throw odd; })()).rejects.toBe(odd);
  });

  it('capacity defaults to max(1, tokensPerSecond)', async () => {
    const five = rateLimit({ tokensPerSecond: 5, block: false })(() => 'ok');
    for (let i = 0; i < 5; i++) await expect(five()).resolves.toBe('ok');
    await expect(five()).rejects.toBeInstanceOf(RateLimitExceeded);
    const half = rateLimit({ tokensPerSecond: 0.5, block: false })(() => 'ok');
    await expect(half()).resolves.toBe('ok');
    await expect(half()).rejects.toBeInstanceOf(RateLimitExceeded);
  });

  it('each wrapped function gets its own bucket', async () => {
    const limit = rateLimit({ tokensPerSecond: 0.001, capacity: 1, block: false });
    const f = limit(() => 'f');
    const g = limit(() => 'g');
    await expect(f()).resolves.toBe('f');
    await expect(g()).resolves.toBe('g');
    await expect(f()).rejects.toBeInstanceOf(RateLimitExceeded);
  });

  it('tokensPerSecond 0 is a fixed quota: capacity calls, then refused with retryAfter Infinity', async () => {
    const f = rateLimit({ tokensPerSecond: 0, capacity: 2 })(() => 1);
    await f();
    await f();
    const error = (await f().catch((e: unknown) => e)) as RateLimitExceeded;
    expect(error).toBeInstanceOf(RateLimitExceeded);
    expect(error.retryAfter).toBe(Infinity);
  });

  it('asyncRateLimit is the same function', () => {
    expect(asyncRateLimit).toBe(rateLimit);
  });
});

describe('rateLimit with a shared bucket', () => {
  const kinds = [
    ['TokenBucket', (clock: ManualClock) => new TokenBucket({ capacity: 2, fillRate: 4, clock })],
    ['AsyncTokenBucket', (clock: ManualClock) => new AsyncTokenBucket({ capacity: 2, fillRate: 4, clock })],
    ['HierarchicalTokenBucket', (clock: ManualClock) => {
      const root = new HierarchicalTokenBucket({ capacity: 100, fillRate: 100, clock });
      return new HierarchicalTokenBucket({ capacity: 2, fillRate: 4, parent: root });
    }],
  ] as const;

  it.each(kinds)('shares a %s between functions and refuses with the right retryAfter', async (_kind, make) => {
    const clock = new ManualClock();
    const bucket = make(clock);
    const a = rateLimit({ bucket, block: false })((x: number) => x);
    const b = rateLimit({ bucket, block: false, tokens: 0.5 })((x: number) => -x);
    await expect(a(1)).resolves.toBe(1);
    await expect(b(2)).resolves.toBe(-2);
    const refused = (await a(3).catch((e: unknown) => e)) as RateLimitExceeded;
    expect(refused).toBeInstanceOf(RateLimitExceeded);
    expect(refused.retryAfter).toBeCloseTo(125, 9); // 0.5 token short at 4 tokens/s
    clock.advance(125);
    await expect(a(4)).resolves.toBe(4);
  });

  it.each(kinds)('waits on a %s when blocking (the default)', async (_kind, make) => {
    const clock = new ManualClock();
    const bucket = make(clock);
    const calls: number[] = [];
    const f = rateLimit({ bucket })((i: number) => calls.push(i));
    const all = Promise.all([1, 2, 3, 4].map((i) => f(i)));
    await flush();
    expect(calls).toEqual([1, 2]);
    clock.advance(250);
    await flush();
    expect(calls).toEqual([1, 2, 3]);
    clock.advance(250);
    await all;
    expect(calls).toEqual([1, 2, 3, 4]);
  });

  it('a call whose wait exceeds maxWait is refused without running the function', async () => {
    const clock = new ManualClock();
    const bucket = new AsyncTokenBucket({ capacity: 1, fillRate: 2, initialTokens: 0, clock });
    const fn = vi.fn();
    const f = rateLimit({ bucket, maxWait: 400 })(fn);
    const error = (await f().catch((e: unknown) => e)) as RateLimitExceeded;
    expect(error).toBeInstanceOf(RateLimitExceeded);
    expect(error.retryAfter).toBeCloseTo(500, 9);
    expect(fn).not.toHaveBeenCalled();
    const g = rateLimit({ bucket, maxWait: 500 })(fn);
    const p = g();
    clock.advance(500);
    await p;
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('block: false ignores maxWait and refuses at once', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ capacity: 1, fillRate: 1, initialTokens: 0, clock });
    const f = rateLimit({ bucket, block: false, maxWait: 10_000 })(() => 1);
    const error = (await f().catch((e: unknown) => e)) as RateLimitExceeded;
    expect(error.retryAfter).toBeCloseTo(1000, 9);
    expect(error.message).toMatch(/retry after 1000 ms/);
  });

  it('bucket together with tokensPerSecond or capacity is a TypeError', () => {
    const bucket = new TokenBucket({ capacity: 2, fillRate: 1 });
    expect(() => rateLimit({ bucket, tokensPerSecond: 1 })).toThrow(TypeError);
    expect(() => rateLimit({ bucket, capacity: 2 })).toThrow(/either bucket or tokensPerSecond\/capacity/);
  });

  it('tokens above the capacity is a RangeError when wrapping, not on the first call', () => {
    expect(() => rateLimit({ tokensPerSecond: 1, capacity: 2, tokens: 3 })).toThrow(RangeError);
    expect(() => rateLimit({ tokensPerSecond: 1, tokens: 2 })).toThrow(/n \(2\) exceeds the bucket's capacity \(tokens per call\) \(1\)/);
    const bucket = new HierarchicalTokenBucket({ capacity: 2, fillRate: 1 });
    expect(() => rateLimit({ bucket, tokens: 2.5 })).toThrow(RangeError);
  });

  it('any object with acquire() and capacity is accepted as a bucket (e.g. a Redis bucket)', async () => {
    const acquire = vi.fn(async () => {});
    const f = rateLimit({ bucket: { capacity: 5, acquire }, tokens: 2, maxWait: 50 })(() => 'done');
    await expect(f()).resolves.toBe('done');
    expect(acquire).toHaveBeenCalledWith(2, { maxWait: 50 });
  });
});

describe('rateLimit with concurrency', () => {
  /** A function that records how many of its calls run at once, each until `finish()` ends them all. */
  function tracked() {
    let running = 0;
    let most = 0;
    const ends: (() => void)[] = [];
    const fn = vi.fn(async (i: number) => {
      running++;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => ends.push(resolve));
      running--;
      return i;
    });
    return { fn, most: () => most, running: () => running, finishOne: () => ends.shift()?.() };
  }

  it('a number lets that many calls run at once; the rest wait in order', async () => {
    const t = tracked();
    const limited = rateLimit({ concurrency: 2 })(t.fn);
    const calls = [0, 1, 2, 3, 4].map((i) => limited(i));
    await flush();
    expect(t.running()).toBe(2);
    expect(t.fn.mock.calls.map((c) => c[0])).toEqual([0, 1]);
    while (t.fn.mock.calls.length < 5 || t.running() > 0) {
      t.finishOne();
      await flush();
    }
    expect(await Promise.all(calls)).toEqual([0, 1, 2, 3, 4]);
    expect(t.fn.mock.calls.map((c) => c[0])).toEqual([0, 1, 2, 3, 4]);
    expect(t.most()).toBe(2);
  });

  it('block: false refuses at once when every slot is busy', async () => {
    const t = tracked();
    const limited = rateLimit({ concurrency: 1, block: false })(t.fn);
    const first = limited(1);
    await flush();
    await expect(limited(2)).rejects.toBeInstanceOf(RateLimitExceeded);
    t.finishOne();
    expect(await first).toBe(1);
  });

  it('frees the slot when the function throws', async () => {
    const limited = rateLimit({ concurrency: 1 })(async () => {
      throw new Error('boom');
    });
    await expect(limited()).rejects.toThrow('boom');
    await expect(limited()).rejects.toThrow('boom'); // would hang if the slot were kept
  });

  it('a shared Semaphore limits several functions together', async () => {
    const sem = new Semaphore({ limit: 1 });
    const a = tracked();
    const b = tracked();
    const la = rateLimit({ concurrency: sem })(a.fn);
    const lb = rateLimit({ concurrency: sem })(b.fn);
    const pa = la(1);
    const pb = lb(2);
    await flush();
    expect(a.running() + b.running()).toBe(1);
    expect(sem.waiting).toBe(1);
    a.finishOne();
    await flush();
    expect(b.running()).toBe(1);
    b.finishOne();
    expect(await Promise.all([pa, pb])).toEqual([1, 2]);
  });

  it('with a rate too: a call holds its slot while it waits for its tokens, and starts no faster than the rate', async () => {
    const clock = new ManualClock();
    const bucket = new AsyncTokenBucket({ capacity: 1, fillRate: 1, clock });
    const t = tracked();
    const limited = rateLimit({ concurrency: 2, bucket })(t.fn);
    const calls = [0, 1, 2].map((i) => limited(i));
    await flush();
    // Call 0 has its token; call 1 has a slot and waits for a token; call 2 waits for a slot.
    expect(t.fn).toHaveBeenCalledTimes(1);
    t.finishOne(); // call 0 ends: call 2 gets its slot, but still no token
    await flush();
    expect(t.fn).toHaveBeenCalledTimes(1);
    clock.advance(1000);
    await flush();
    expect(t.fn).toHaveBeenCalledTimes(2);
    clock.advance(1000);
    await flush();
    expect(t.fn).toHaveBeenCalledTimes(3);
    t.finishOne();
    t.finishOne();
    expect(await Promise.all(calls)).toEqual([0, 1, 2]);
  });

  it('maxWait covers the wait for a slot and for tokens together', async () => {
    const clock = new ManualClock();
    const bucket = new AsyncTokenBucket({ capacity: 1, fillRate: 1, initialTokens: 0, clock });
    const limited = rateLimit({ concurrency: 1, bucket, maxWait: 500 })(async () => 'ran');
    // The token is 1000 ms away: more than maxWait, refused without running.
    await expect(limited()).rejects.toBeInstanceOf(RateLimitExceeded);
  });

  it('names bad concurrency options', () => {
    expect(() => rateLimit({ concurrency: 0 })).toThrow(new RangeError('concurrency must be an integer >= 1, got 0'));
    expect(() => rateLimit({ concurrency: 1.5 })).toThrow(RangeError);
    expect(() => rateLimit({ concurrency: {} as never })).toThrow(/concurrency must be a number .* or a Semaphore \/ RedisSemaphore/);
    expect(() => rateLimit({ concurrency: new AsyncTokenBucket({ capacity: 1, fillRate: 1 }) as never })).toThrow(TypeError);
    expect(() => rateLimit({ bucket: new Semaphore({ limit: 1 }) as never })).toThrow(/not a semaphore: pass a Semaphore or RedisSemaphore as concurrency/);
    expect(() => rateLimit({ capacity: 5, concurrency: 2 })).toThrow(/capacity needs tokensPerSecond/);
    expect(() => rateLimit({})).toThrow(/tokensPerSecond is required \(or pass a bucket, or concurrency\)/);
  });
});
