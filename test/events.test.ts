// Decision events on node:diagnostics_channel: one per call of every local kind, with the fields
// the README promises; nothing published (so nothing built) while nobody subscribes.
import { channel, subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AsyncTokenBucket,
  HierarchicalTokenBucket,
  KeyedTokenBucket,
  ManualClock,
  RateLimitExceeded,
  Semaphore,
  SharedTokenBucket,
  TokenBucket,
  rateLimit,
  type DecisionEvent,
} from 'bucketflow';

let seen: DecisionEvent[] = [];
const onDecision = (message: unknown) => seen.push(message as DecisionEvent);

function listen(): DecisionEvent[] {
  seen = [];
  subscribe('bucketflow:decision', onDecision);
  return seen;
}

afterEach(() => {
  unsubscribe('bucketflow:decision', onDecision);
});

describe('bucketflow:decision', () => {
  it('TokenBucket: consume, take and acquire each publish one decision', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ capacity: 2, fillRate: 1, clock });
    const events = listen();
    bucket.consume();
    bucket.take(1);
    bucket.consume(1);
    expect(events).toEqual([
      { bucket, n: 1, allowed: true },
      { bucket, n: 1, allowed: true },
      { bucket, n: 1, allowed: false },
    ]);
    const waiting = bucket.acquire(1);
    expect(events.length).toBe(3); // not yet decided
    clock.advance(1000);
    await waiting;
    expect(events[3]).toEqual({ bucket, n: 1, allowed: true, waitedMs: 1000 });
    await expect(bucket.acquire(2, { maxWait: 10 })).rejects.toBeInstanceOf(RateLimitExceeded);
    expect(events[4]).toEqual({ bucket, n: 2, allowed: false, waitedMs: 0 });
  });

  it('an aborted wait or a bad argument is no decision', async () => {
    const bucket = new AsyncTokenBucket({ capacity: 1, fillRate: 1, initialTokens: 0, clock: new ManualClock() });
    const events = listen();
    const ctl = new AbortController();
    const aborted = bucket.acquire(1, { signal: ctl.signal }).catch(() => 'aborted');
    ctl.abort();
    expect(await aborted).toBe('aborted');
    await expect(bucket.acquire(-1)).rejects.toThrow(RangeError);
    expect(events).toEqual([]);
  });

  it('AsyncTokenBucket: a blocking consume publishes once, as its acquire', async () => {
    const clock = new ManualClock();
    const bucket = new AsyncTokenBucket({ capacity: 1, fillRate: 1, initialTokens: 0, clock });
    const events = listen();
    expect(await bucket.consume()).toBe(false);
    const blocked = bucket.consume(1, { block: true });
    clock.advance(1000);
    expect(await blocked).toBe(true);
    await bucket.take(0);
    expect(events).toEqual([
      { bucket, n: 1, allowed: false },
      { bucket, n: 1, allowed: true, waitedMs: 1000 },
      { bucket, n: 0, allowed: true },
    ]);
  });

  it('keyed kinds name the key; hierarchies, shared buckets and semaphores publish too', async () => {
    const clock = new ManualClock();
    const keyed = new KeyedTokenBucket({ capacity: 1, fillRate: 1, clock });
    const root = new HierarchicalTokenBucket({ capacity: 5, fillRate: 1, clock });
    const leaf = new HierarchicalTokenBucket({ capacity: 1, fillRate: 1, parent: root });
    const shared = new SharedTokenBucket({ capacity: 1, fillRate: 1, clock });
    const sem = new Semaphore({ limit: 1, clock });
    const events = listen();
    keyed.consume('alice');
    keyed.take('alice');
    leaf.consume();
    leaf.take();
    shared.consume();
    shared.take();
    const lease = await sem.acquire();
    expect(sem.tryAcquire()).toBeUndefined();
    expect(events).toEqual([
      { bucket: keyed, key: 'alice', n: 1, allowed: true },
      { bucket: keyed, key: 'alice', n: 1, allowed: false },
      { bucket: leaf, n: 1, allowed: true },
      { bucket: leaf, n: 1, allowed: false },
      { bucket: shared, n: 1, allowed: true },
      { bucket: shared, n: 1, allowed: false },
      { bucket: sem, n: 1, allowed: true, waitedMs: 0 },
      { bucket: sem, n: 1, allowed: false },
    ]);
    lease.release();
    await keyed.acquire('bob');
    await leaf.acquire(1, { maxWait: 0 }).catch(() => {});
    await shared.acquire(1, { maxWait: 0 }).catch(() => {});
    expect(events.slice(8)).toEqual([
      { bucket: keyed, key: 'bob', n: 1, allowed: true, waitedMs: 0 },
      { bucket: leaf, n: 1, allowed: false, waitedMs: 0 },
      { bucket: shared, n: 1, allowed: false, waitedMs: 0 },
    ]);
  });

  it('rateLimit publishes the decision of its bucket (and its semaphore), once each', async () => {
    const limited = rateLimit({ tokensPerSecond: 10, concurrency: 2 })(async () => 'ran');
    const events = listen();
    expect(await limited()).toBe('ran');
    expect(events.map((e) => [e.bucket.constructor.name, e.allowed])).toEqual([['Semaphore', true], ['AsyncTokenBucket', true]]);
  });

  it('publishes nothing while nobody listens', async () => {
    const decisions = channel('bucketflow:decision');
    expect(decisions.hasSubscribers).toBe(false);
    const publish = vi.spyOn(decisions, 'publish');
    try {
      const clock = new ManualClock();
      const bucket = new TokenBucket({ capacity: 1, fillRate: 1, clock });
      bucket.consume();
      bucket.consume();
      bucket.take();
      await bucket.acquire(0);
      const keyed = new KeyedTokenBucket({ capacity: 1, fillRate: 1, clock });
      keyed.consume('k');
      await keyed.acquire('k', 1, { maxWait: 0 }).catch(() => {});
      const sem = new Semaphore({ limit: 1 });
      (await sem.acquire()).release();
      expect(publish).not.toHaveBeenCalled();
    } finally {
      publish.mockRestore();
    }
  });
});
