import { describe, expect, it } from 'vitest';
import { KeyedTokenBucket, ManualClock, RateLimitExceeded, type Clock } from 'bucketflow';
import type { CaseBucket, CaseDriver, CaseLimit, CaseOptions } from './cases/behaviour-cases.js';
import { runBehaviourCases } from './cases/run-cases.js';

// A keyed bucket with initialTokens < capacity starts over at initialTokens once it has refilled
// to full (as a forgotten key would): the one case that lets a bucket refill to full from
// initialTokens 0 answers differently by design.
const STARTS_OVER = { 'refill stops at capacity': 'a key whose bucket refilled to full starts again at initialTokens' };

function keyedDriver(name: string, make: (limit: CaseLimit, clock: Clock, options: CaseOptions) => CaseBucket): CaseDriver {
  let clock = new ManualClock();
  return {
    name,
    canBlock: false,
    slackMs: 0,
    deviations: STARTS_OVER,
    create(limit, options) {
      clock = new ManualClock();
      return make(limit, clock, options);
    },
    async advance(ms) {
      clock.advance(ms);
    },
  };
}

// One key of the limiter behaves as one TokenBucket; other keys' traffic changes nothing.
runBehaviourCases(keyedDriver('KeyedTokenBucket (one key)', (limit, clock, options) => {
  const k = new KeyedTokenBucket({ ...limit, ...options, clock });
  k.consume('user:1', 0); // the key's bucket starts now, as a TokenBucket does when constructed
  return { consume: async (n, o) => k.consume('user:1', n, o), acquire: (n, o) => k.acquire('user:1', n, o), tokens: () => k.tokens('user:1'), penalize: (n) => k.penalize('user:1', n), reward: (n) => k.reward('user:1', n), setLimits: (l) => k.setLimits(l) };
}));

runBehaviourCases(keyedDriver('KeyedTokenBucket (one key among busy others, maxKeys)', (limit, clock, options) => {
  const k = new KeyedTokenBucket({ ...limit, ...options, clock, maxKeys: 100 });
  k.consume('me', 0);
  let other = 0;
  const noise = () => {
    for (let i = 0; i < 3; i++) k.consume(`other:${other++ % 50}`, Math.min(1, limit.capacity));
  };
  return {
    consume: async (n, o) => { noise(); return k.consume('me', n, o); },
    acquire: (n, o) => { noise(); return k.acquire('me', n, o); },
    tokens: () => k.tokens('me'),
    penalize: (n) => k.penalize('me', n),
    reward: (n) => k.reward('me', n),
    setLimits: (l) => k.setLimits(l),
  };
}));

runBehaviourCases(keyedDriver('KeyedTokenBucket with a second, looser limit', (limit, clock, options) => {
  const k = new KeyedTokenBucket({ limits: [limit, { capacity: 1000, fillRate: 1000 }], ...options, clock });
  k.consume('k', 0);
  return { consume: async (n, o) => k.consume('k', n, o), acquire: (n, o) => k.acquire('k', n, o), tokens: () => k.tokens('k'), penalize: (n) => k.penalize('k', n), reward: (n) => k.reward('k', n), setLimits: (l) => k.setLimits({ limits: [l, { capacity: 1000, fillRate: 1000 }] }) };
}));

// Tiers: the key under test has the case's limit, the others a tier of their own; setLimits gives
// the key's tier new limits through a new limitsFor.
runBehaviourCases(keyedDriver('KeyedTokenBucket with limitsFor (the key of one tier among others)', (limit, clock, options) => {
  const other = { capacity: 1, fillRate: 1000 };
  const k = new KeyedTokenBucket({ limitsFor: (key) => (key === 'gold' ? limit : other), ...options, clock });
  k.consume('gold', 0);
  k.consume('free', 1);
  return {
    consume: async (n, o) => { k.consume('free', 1); return k.consume('gold', n, o); },
    acquire: (n, o) => k.acquire('gold', n, o),
    tokens: () => k.tokens('gold'),
    penalize: (n) => k.penalize('gold', n),
    reward: (n) => k.reward('gold', n),
    setLimits: (l) => k.setLimits({ limitsFor: (key) => (key === 'gold' ? l : other) }),
  };
}));

describe('KeyedTokenBucket: keys and options', () => {
  it('gives every key its own bucket, created lazily', () => {
    const clock = new ManualClock();
    const k = new KeyedTokenBucket({ capacity: 2, fillRate: 1, clock });
    expect(k.size).toBe(0);
    expect(k.consume('a', 2)).toBe(true);
    expect(k.consume('a')).toBe(false);
    expect(k.consume('b', 2)).toBe(true);
    expect(k.consume('')).toBe(true); // the empty string is a key like any other
    expect(k.size).toBe(3);
    expect(k.tokens('a')).toBe(0);
    expect(k.timeUntil('a', 1)).toBe(1000);
    expect(k.timeUntil('a', 3)).toBe(Infinity);
  });

  it('reads of an unknown key remember nothing', () => {
    const k = new KeyedTokenBucket({ capacity: 5, fillRate: 1, initialTokens: 2, clock: new ManualClock() });
    expect(k.tokens('x')).toBe(2);
    expect(k.timeUntil('x', 4)).toBe(2000);
    expect(k.consume('x', 6)).toBe(false);
    expect(k.size).toBe(0);
    expect(k.consume('x', 0)).toBe(true); // a request, even of 0 tokens, starts the key's bucket
    expect(k.size).toBe(1);
  });

  it('exposes capacity, fillRate (the tightest of several limits), limits and maxKeys', () => {
    const k = new KeyedTokenBucket({ limits: [{ capacity: 10, fillRate: 10 }, { capacity: 1000, fillRate: 1000 / 3600 }], maxKeys: 5 });
    expect(k.capacity).toBe(10);
    expect(k.fillRate).toBeCloseTo(1000 / 3600, 12);
    expect(k.limits).toEqual([{ capacity: 10, fillRate: 10, initialTokens: 10 }, { capacity: 1000, fillRate: 1000 / 3600, initialTokens: 1000 }]);
    expect(k.maxKeys).toBe(5);
    expect(new KeyedTokenBucket({ capacity: 1, fillRate: 1 }).maxKeys).toBe(Infinity);
  });

  it('rejects keys that are not strings, naming the key, and changes nothing', async () => {
    const k = new KeyedTokenBucket({ capacity: 1, fillRate: 1, clock: new ManualClock() });
    for (const bad of [1, undefined, null, Symbol('s'), {}]) {
      expect(() => k.consume(bad as unknown as string)).toThrow(TypeError);
      expect(() => k.consume(bad as unknown as string)).toThrow(/key must be a string/);
      expect(() => k.timeUntil(bad as unknown as string)).toThrow(TypeError);
      expect(() => k.tokens(bad as unknown as string)).toThrow(TypeError);
      expect(() => k.delete(bad as unknown as string)).toThrow(TypeError);
      await expect(k.acquire(bad as unknown as string)).rejects.toThrow(TypeError);
    }
    expect(() => k.consume(42 as unknown as string)).toThrow('key must be a string, got the number 42');
    expect(k.size).toBe(0);
  });

  it('validates n like TokenBucket: errors name n, nothing is taken; n > capacity never fits', async () => {
    const k = new KeyedTokenBucket({ capacity: 3, fillRate: 1, clock: new ManualClock() });
    expect(() => k.consume('a', -1)).toThrow(RangeError);
    expect(() => k.consume('a', Number.NaN)).toThrow(/n must be a finite number >= 0/);
    expect(() => k.consume('a', '1' as unknown as number)).toThrow(TypeError);
    expect(() => k.timeUntil('a', -1)).toThrow(RangeError);
    await expect(k.acquire('a', Infinity)).rejects.toThrow(RangeError);
    expect(k.consume('a', 4)).toBe(false);
    expect(() => k.consume('a', 4, { block: true })).toThrow(RangeError);
    await expect(k.acquire('a', 4)).rejects.toThrow(RangeError);
    expect(k.tokens('a')).toBe(3);
    expect(() => k.consume('a', 1, { block: 'yes' as unknown as boolean })).toThrow(/block must be a boolean/);
    expect(() => k.consume('a', 1, { wait: 1 } as never)).toThrow(/unknown option "wait"/);
    await expect(k.acquire('a', 1, { maxWait: -1 })).rejects.toThrow(/maxWait/);
    expect(k.tokens('a')).toBe(3);
  });

  it('validates its options with messages naming the option', () => {
    const make = (o: unknown) => () => new KeyedTokenBucket(o as never);
    expect(make(undefined)).toThrow(TypeError);
    expect(make({ fillRate: 1 })).toThrow(/capacity is required/);
    expect(make({ capacity: 0, fillRate: 1 })).toThrow(RangeError);
    expect(make({ capacity: 1, fillRate: -1 })).toThrow(/fillRate must be a finite number >= 0, got -1/);
    expect(make({ capacity: 1, fillRate: 1, initialTokens: 2 })).toThrow(/initialTokens must be <= capacity/);
    expect(make({ capacity: 1, fillRate: 1, max_keys: 3 })).toThrow(/unknown option "max_keys"/);
    expect(make({ capacity: 1, fillRate: 1, maxKeys: 0 })).toThrow(/maxKeys must be an integer >= 1 \(or Infinity\), got 0/);
    expect(make({ capacity: 1, fillRate: 1, maxKeys: 2.5 })).toThrow(RangeError);
    expect(make({ capacity: 1, fillRate: 1, maxKeys: '10' })).toThrow(TypeError);
    expect(make({ capacity: 1, fillRate: 1, clock: {} })).toThrow(/clock must be an object with a now\(\) method/);
    expect(make({ limits: [] })).toThrow(/limits must be a non-empty array/);
    expect(make({ limits: [{ capacity: 1, fillRate: -2 }] })).toThrow(/limits\[0\]: fillRate/);
    expect(make({ limits: [{ capacity: 1, fillRate: 1 }], capacity: 1 })).toThrow(/either limits or capacity/);
  });

  it('delete forgets a key (its next request starts a new bucket) but never one with waiters', async () => {
    const clock = new ManualClock();
    const k = new KeyedTokenBucket({ capacity: 2, fillRate: 1, clock });
    expect(k.delete('a')).toBe(false);
    k.consume('a', 2);
    expect(k.delete('a')).toBe(true);
    expect(k.tokens('a')).toBe(2);
    k.consume('b', 2);
    const waiting = k.acquire('b', 1);
    expect(k.delete('b')).toBe(false);
    clock.advance(1000);
    await waiting;
    expect(k.delete('b')).toBe(true);
  });

  it('a clock that steps backwards adds and removes nothing', () => {
    const clock = { t: 1000, now() { return this.t; } };
    const k = new KeyedTokenBucket({ capacity: 10, fillRate: 10, clock });
    k.consume('a', 10);
    clock.t = 0;
    expect(k.tokens('a')).toBe(0);
    clock.t = 1100;
    expect(k.tokens('a')).toBeCloseTo(1, 9);
  });

  it('a blocking consume sleeps the thread for the wait (real time) and refuses on a ManualClock', () => {
    const k = new KeyedTokenBucket({ capacity: 1, fillRate: 50 });
    const t0 = performance.now(); // before the first take: the refill after it counts from then
    expect(k.consume('a')).toBe(true);
    expect(k.consume('a', 1, { block: true })).toBe(true);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(15); // 20 ms of refill, wide margin
    const slow = new KeyedTokenBucket({ capacity: 1, fillRate: 0.001 });
    expect(slow.consume('a')).toBe(true);
    expect(slow.consume('a', 1, { block: true, maxWait: 1 })).toBe(false); // the next token is 1000 s away
    const manual = new KeyedTokenBucket({ capacity: 1, fillRate: 1, clock: new ManualClock() });
    manual.consume('a');
    expect(() => manual.consume('a', 1, { block: true })).toThrow(/ManualClock/);
    expect(manual.consume('b', 1, { block: true })).toBe(true); // no wait needed: no sleep
    const quota = new KeyedTokenBucket({ capacity: 1, fillRate: 0 });
    quota.consume('a');
    expect(quota.consume('a', 1, { block: true })).toBe(false);
  });
});

describe('KeyedTokenBucket: waiting per key', () => {
  it('keys never wait behind each other, and each key serves its waiters first come, first served', async () => {
    const clock = new ManualClock();
    const k = new KeyedTokenBucket({ capacity: 10, fillRate: 10, initialTokens: 0, clock });
    const order: string[] = [];
    const big = k.acquire('a', 5).then(() => order.push('a5'));
    const small = k.acquire('a', 1).then(() => order.push('a1'));
    const other = k.acquire('b', 1).then(() => order.push('b1'));
    clock.advance(100);
    await other;
    expect(order).toEqual(['b1']);
    expect(k.consume('a', 1)).toBe(false); // the tokens earned so far are owed to the waiters
    clock.advance(500);
    await Promise.all([big, small]);
    expect(order).toEqual(['b1', 'a5', 'a1']);
  });

  it('acquire with maxWait 0 reports the longest wait over the limits as retryAfter', async () => {
    const clock = new ManualClock();
    const k = new KeyedTokenBucket({ limits: [{ capacity: 10, fillRate: 10 }, { capacity: 20, fillRate: 1 }], clock });
    expect(k.consume('a', 10)).toBe(true);
    // 1 token: 100 ms for the first limit; the second still holds 10.
    await expect(k.acquire('a', 1, { maxWait: 0 })).rejects.toMatchObject({ retryAfter: 100 });
    clock.advance(1000);
    expect(k.consume('a', 10)).toBe(true); // second limit: 10 + 1 - 10 = 1 left
    const refused = await k.acquire('a', 5, { maxWait: 0 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitExceeded);
    expect((refused as RateLimitExceeded).retryAfter).toBeCloseTo(4000, 6); // the hourly-style limit is the slow one
  });

  it('an aborted waiter gives its tokens back, also with several limits', async () => {
    const clock = new ManualClock();
    const k = new KeyedTokenBucket({ limits: [{ capacity: 4, fillRate: 4 }, { capacity: 8, fillRate: 1 }], clock });
    k.consume('a', 4);
    const ctl = new AbortController();
    const waiting = k.acquire('a', 2, { signal: ctl.signal });
    expect(k.tokens('a')).toBe(-2);
    ctl.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    expect(k.tokens('a')).toBe(0);
    clock.advance(250);
    expect(k.tokens('a')).toBe(1);
    await expect(k.acquire('a', 1, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('KeyedTokenBucket: forgetting full buckets', () => {
  it('forgets a bucket that has refilled to full once new keys sweep past it, and keeps a non-full one', () => {
    const clock = new ManualClock();
    const k = new KeyedTokenBucket({ capacity: 10, fillRate: 10, clock });
    k.consume('slow', 10); // full again after 1000 ms
    k.consume('fast', 1); // full again after 100 ms
    clock.advance(500);
    k.consume('new1');
    expect(k.size).toBe(2); // 'fast' forgotten, 'slow' (5 tokens short) kept
    expect(k.tokens('slow')).toBe(5);
    expect(k.timeUntil('slow', 10)).toBe(500);
    clock.advance(500);
    k.consume('new2');
    k.consume('new3');
    expect(k.tokens('slow')).toBe(10);
    expect(k.size).toBeLessThanOrEqual(3); // 'slow' is full now: gone or going, indistinguishable
  });

  it('never forgets a key with queued waiters, even when its level reads full', async () => {
    const clock = new ManualClock();
    const k = new KeyedTokenBucket({ capacity: 4, fillRate: 1, clock });
    k.consume('w', 4);
    const done = k.acquire('w', 4);
    expect(k.tokens('w')).toBe(-4);
    for (let i = 0; i < 10; i++) k.consume(`x${i}`);
    expect(k.timeUntil('w', 1)).toBeGreaterThan(0);
    expect(k.consume('w', 1)).toBe(false);
    clock.advance(4000);
    await done;
    expect(k.tokens('w')).toBe(0);
  });

  it('never forgets a spent fixed quota (fillRate 0): only delete() or maxKeys can', () => {
    const clock = new ManualClock();
    const k = new KeyedTokenBucket({ capacity: 3, fillRate: 0, clock });
    k.consume('q', 3);
    clock.advance(1e9);
    for (let i = 0; i < 1000; i++) k.consume(`other${i}`, 0.5);
    expect(k.consume('q')).toBe(false);
    expect(k.timeUntil('q')).toBe(Infinity);
    expect(k.size).toBe(1001);
  });

  it('a bucket a hair below full is not full: forgetting it would hand the hair back', () => {
    const clock = new ManualClock();
    const k = new KeyedTokenBucket({ capacity: 0.5, fillRate: 0, clock });
    expect(k.consume('a', 5e-10)).toBe(true);
    for (let i = 0; i < 100; i++) k.consume(`other${i}`, 0); // sweeps pass over 'a'
    expect(k.tokens('a')).toBe(0.5 - 5e-10);
  });

  it('with initialTokens < capacity, a key whose bucket refilled to full starts again at initialTokens, swept or not', () => {
    const clock = new ManualClock();
    const k = new KeyedTokenBucket({ capacity: 10, fillRate: 10, initialTokens: 2, clock });
    expect(k.consume('a', 2)).toBe(true);
    clock.advance(500);
    expect(k.tokens('a')).toBe(5); // not full: its history counts
    clock.advance(500);
    expect(k.tokens('a')).toBe(2); // full: the same as a key never seen
    expect(k.consume('a', 3)).toBe(false);
    expect(k.consume('a', 2)).toBe(true);
  });

  it('with several limits a key is forgotten only when every limit is full', () => {
    const clock = new ManualClock();
    const k = new KeyedTokenBucket({ limits: [{ capacity: 10, fillRate: 10 }, { capacity: 100, fillRate: 1 }], clock });
    k.consume('a', 10);
    clock.advance(1000); // first limit full, second 9 short
    k.consume('n1');
    k.consume('n2');
    expect(k.tokens('a')).toBe(10);
    expect(k.timeUntil('a', 10)).toBe(0);
    expect(k.size).toBe(3);
    clock.advance(9000);
    k.consume('n3');
    k.consume('n4');
    expect(k.size).toBeLessThan(5);
  });

  // A million requests take seconds of CPU on a loaded machine: the default 5 s timeout would time
  // the machine, not the algorithm (time here is the ManualClock's, advanced per request).
  it('a flood of 1,000,000 distinct keys keeps at most twice the keys active within one refill period', { timeout: 60_000 }, () => {
    const clock = new ManualClock();
    // A key's bucket is full again 10 ms after its one request.
    const k = new KeyedTokenBucket({ capacity: 1, fillRate: 100, clock });
    const step = 0.002; // 2 µs between new keys: 5,000 keys are active at any time
    const active = 10 / step;
    let most = 0;
    let admitted = 0;
    for (let i = 0; i < 1_000_000; i++) {
      if (k.consume(`ip:${i}`)) admitted++;
      clock.advance(step);
      if (k.size > most) most = k.size;
    }
    expect(admitted).toBe(1_000_000);
    // Derived bound (README): every entry is examined again within size/2 new keys, so entries
    // live at most one refill period plus size/2 keys: size <= active + size/2.
    expect(most).toBeLessThanOrEqual(2 * active + 2);
    expect(most).toBeGreaterThanOrEqual(active - 1); // the active ones are all remembered
    // The most recent key is still remembered: its bucket is not full.
    expect(k.tokens('ip:999999')).toBeLessThan(1);
  });
});

describe('KeyedTokenBucket: maxKeys', () => {
  it('evicts the least recently used key when a new key would exceed maxKeys', () => {
    const clock = new ManualClock();
    const k = new KeyedTokenBucket({ capacity: 5, fillRate: 0.001, maxKeys: 3, clock });
    k.consume('a', 5);
    k.consume('b', 5);
    k.consume('c', 5);
    k.consume('a', 0.0001); // a is used again: b is now the least recent
    clock.advance(1);
    k.consume('d', 1);
    expect(k.size).toBe(3);
    // b was evicted, so it starts over (the safety trade-off: a new, full bucket) ...
    expect(k.tokens('b')).toBe(5);
    // ... while a, c and d keep their history.
    expect(k.tokens('a')).toBeLessThan(1);
    expect(k.tokens('c')).toBeLessThan(1);
    expect(k.tokens('d')).toBeCloseTo(4, 6);
  });

  it('a failed request also counts as use; reads do not', () => {
    const k = new KeyedTokenBucket({ capacity: 1, fillRate: 0.001, maxKeys: 2, clock: new ManualClock() });
    k.consume('a');
    k.consume('b');
    expect(k.tokens('a')).toBe(0); // a read: a stays least recent
    k.consume('c');
    expect(k.tokens('a')).toBe(1); // evicted
    expect(k.consume('b')).toBe(false); // touched: refused, but now most recent
    k.consume('d'); // evicts c, not b
    expect(k.tokens('b')).toBe(0);
    expect(k.tokens('c')).toBe(1);
  });

  it('skips keys with queued waiters; if every key has waiters a new key is refused', async () => {
    const clock = new ManualClock();
    const k = new KeyedTokenBucket({ capacity: 2, fillRate: 1, maxKeys: 2, clock });
    k.consume('a', 2);
    k.consume('b', 2);
    const wa = k.acquire('a', 1);
    k.consume('c', 2); // evicts b (a has a waiter though it is older)
    expect(k.tokens('b')).toBe(2);
    expect(k.tokens('a')).toBe(-1);
    const wc = k.acquire('c', 2);
    expect(k.consume('d')).toBe(false);
    const refused = await k.acquire('d', 1).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitExceeded);
    expect((refused as RateLimitExceeded).retryAfter).toBe(1000); // a's waiter is served in 1 s
    expect(k.size).toBe(2);
    clock.advance(2000);
    await Promise.all([wa, wc]);
    expect(k.consume('d')).toBe(true);
    expect(k.size).toBe(2);
  });

  it('never grows past maxKeys under a flood of random keys, even when no bucket is full', () => {
    const k = new KeyedTokenBucket({ capacity: 10, fillRate: 0.01, maxKeys: 1000, clock: new ManualClock() });
    // The peak, asserted once: an expect() per request cost seconds of CPU on a loaded machine.
    let most = 0;
    for (let i = 0; i < 50_000; i++) {
      k.consume(`r${Math.floor(Math.random() * 1e9)}`, 5);
      if (k.size > most) most = k.size;
    }
    expect(most).toBe(1000);
    expect(k.size).toBe(1000);
  });
});
