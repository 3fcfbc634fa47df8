// maxWaiting on every local kind that queues waiters: the option is checked, the number waiting is
// readable, and past the bound a request that would wait is refused at once (the shared case table
// covers one bucket of each kind; this covers what it cannot: counts over many keys, semaphores).
import { describe, expect, it } from 'vitest';
import {
  AsyncTokenBucket,
  HierarchicalTokenBucket,
  KeyedTokenBucket,
  ManualClock,
  RateLimitExceeded,
  Semaphore,
  SharedTokenBucket,
  TokenBucket,
  createBucketHierarchy,
} from 'bucketflow';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('maxWaiting option', () => {
  it('is an integer >= 0 or Infinity, named in the error', () => {
    const limit = { capacity: 1, fillRate: 1 };
    for (const make of [
      (maxWaiting: unknown) => new TokenBucket({ ...limit, maxWaiting } as never),
      (maxWaiting: unknown) => new AsyncTokenBucket({ ...limit, maxWaiting } as never),
      (maxWaiting: unknown) => new HierarchicalTokenBucket({ ...limit, maxWaiting } as never),
      (maxWaiting: unknown) => new KeyedTokenBucket({ ...limit, maxWaiting } as never),
      (maxWaiting: unknown) => new SharedTokenBucket({ ...limit, maxWaiting } as never),
      (maxWaiting: unknown) => new Semaphore({ limit: 1, maxWaiting } as never),
    ]) {
      expect(() => make(-1)).toThrow(new RangeError('maxWaiting must be an integer >= 0 (or Infinity), got -1'));
      expect(() => make(1.5)).toThrow(RangeError);
      expect(() => make('5')).toThrow(new TypeError('maxWaiting must be a number, got "5"'));
      expect(() => make(0)).not.toThrow();
      expect(() => make(Infinity)).not.toThrow();
    }
    expect(() => createBucketHierarchy({ name: 'root', ...limit, children: [{ name: 'leaf', ...limit, maxWaiting: -2 }] }))
      .toThrow(/node "leaf" \(at root.children\[0\]\): maxWaiting must be an integer >= 0/);
  });
});

describe('maxWaiting bounds the waiters', () => {
  it('TokenBucket: waiting counts the queue, and a refused request says why', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ capacity: 1, fillRate: 1, initialTokens: 0, clock, maxWaiting: 2 });
    const waits = [bucket.acquire(), bucket.acquire()];
    expect(bucket.waiting).toBe(2);
    const refused = await bucket.acquire(1, { maxWait: 60_000 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitExceeded);
    expect((refused as RateLimitExceeded).retryAfter).toBe(3000);
    expect((refused as Error).message).toMatch(/2 callers already wait \(maxWaiting\)/);
    // A request beyond its own maxWait is refused as always, whatever the queue.
    const tooLong = await bucket.acquire(1, { maxWait: 10 }).catch((e: unknown) => e);
    expect((tooLong as Error).message).not.toMatch(/maxWaiting/);
    clock.advance(2000);
    await Promise.all(waits);
    expect(bucket.waiting).toBe(0);
  });

  it('an aborted or served waiter makes room', async () => {
    const clock = new ManualClock();
    const bucket = new AsyncTokenBucket({ capacity: 1, fillRate: 1, initialTokens: 0, clock, maxWaiting: 1 });
    const ctl = new AbortController();
    const first = bucket.acquire(1, { signal: ctl.signal }).catch((e: unknown) => e);
    expect(await bucket.consume(1, { block: true })).toBe(false); // no room: refused, as a consume says it
    ctl.abort(new Error('gone'));
    await first;
    expect(bucket.waiting).toBe(0);
    const second = bucket.acquire();
    expect(bucket.waiting).toBe(1);
    clock.advance(1000);
    await second;
  });

  it('KeyedTokenBucket counts waiters over every key', async () => {
    const clock = new ManualClock();
    const keyed = new KeyedTokenBucket({ capacity: 1, fillRate: 1, initialTokens: 0, clock, maxWaiting: 2 });
    const waits = [keyed.acquire('a'), keyed.acquire('b')];
    expect(keyed.waiting).toBe(2);
    await expect(keyed.acquire('c')).rejects.toThrow(/2 callers already wait/);
    expect(keyed.consume('c', 0)).toBe(true); // a request that need not wait still passes
    clock.advance(1000);
    await Promise.all(waits);
    expect(keyed.waiting).toBe(0);
    const next = keyed.acquire('c');
    expect(keyed.waiting).toBe(1);
    clock.advance(1000);
    await next;
  });

  it('a hierarchy bounds each bucket\'s own waiters', async () => {
    const clock = new ManualClock();
    const { root, a, b } = createBucketHierarchy({
      name: 'root', capacity: 10, fillRate: 10, clock,
      children: [{ name: 'a', capacity: 1, fillRate: 1, initialTokens: 0, maxWaiting: 1 }, { name: 'b', capacity: 1, fillRate: 1, initialTokens: 0 }],
    });
    const first = a!.acquire();
    await expect(a!.acquire()).rejects.toThrow(/1 callers already wait/);
    const others = [b!.acquire(), b!.acquire()]; // b has no bound
    expect([root!.waiting, a!.waiting, b!.waiting]).toEqual([0, 1, 2]);
    clock.advance(2000);
    await Promise.all([first, ...others]);
  });

  it('SharedTokenBucket bounds this thread\'s waiters', async () => {
    const clock = new ManualClock();
    const shared = new SharedTokenBucket({ capacity: 1, fillRate: 1, initialTokens: 0, clock, maxWaiting: 1 });
    const first = shared.acquire();
    expect(shared.waiting).toBe(1);
    await expect(shared.acquire()).rejects.toBeInstanceOf(RateLimitExceeded);
    clock.advance(1000);
    await first;
  });

  it('Semaphore: past maxWaiting an acquire that would wait is refused, one that need not wait is served', async () => {
    const clock = new ManualClock();
    const sem = new Semaphore({ limit: 1, clock, maxWaiting: 1 });
    const held = await sem.acquire();
    const queued = sem.acquire();
    await flush();
    const refused = await sem.acquire().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitExceeded);
    expect((refused as Error).message).toMatch(/1 callers already wait \(maxWaiting\)/);
    held.release();
    (await queued).release();
    const free = await sem.acquire(); // the queue is empty again
    free.release();
    const none = new Semaphore({ limit: 1, maxWaiting: 0 });
    const only = await none.acquire();
    await expect(none.acquire()).rejects.toBeInstanceOf(RateLimitExceeded);
    only.release();
  });
});
