// The decision core every adapter shares, against a scripted fake limiter: option checks with
// messages that name the option, the order of skip / cost / key / take, the synchronous path,
// and the waiting rules.

import { RateLimitExceeded, type Decision } from 'bucketflow';
import { describe, expect, it } from 'vitest';
import { GONE, RequestLimiter, SKIPPED, type Disconnect, type HttpLimiter, type Verdict } from '../../src/http/core.js';

const KIND = Symbol.for('bucketflow.kind');

function verdict(allowed: boolean, retryAfter = allowed ? 0 : 1000): Decision {
  return { allowed, remaining: allowed ? 1 : 0, retryAfter, resetAfter: 2000, limits: [{ capacity: 2, fillRate: 1, remaining: allowed ? 1 : 0, resetAfter: 2000 }] };
}

interface Fake {
  limiter: HttpLimiter;
  calls: unknown[][];
}

/** A limiter that answers take() from `answers` in turn (a function may compute one) and records every call. */
function fake(kind: 'keyed' | 'single', answers: Array<Decision | Promise<Decision> | (() => Decision)>, acquire?: (...args: unknown[]) => Promise<void>): Fake {
  const calls: unknown[][] = [];
  const limiter = {
    [KIND]: kind,
    capacity: 2,
    take: (...args: unknown[]) => {
      calls.push(['take', ...args]);
      const a = answers.shift() ?? verdict(true);
      return typeof a === 'function' ? a() : a;
    },
    acquire: (...args: unknown[]) => {
      calls.push(['acquire', ...args]);
      return acquire ? acquire(...args) : Promise.resolve();
    },
  } as unknown as HttpLimiter;
  return { limiter, calls };
}

type Req = { key?: string; cost?: number; skip?: boolean };
const never = (): Disconnect => ({ signal: new AbortController().signal, release: () => {} });
const core = (options: object) => new RequestLimiter<Req>(options, { name: 'testRateLimit', defaultKey: (r) => r.key ?? 'ip', extraKeys: [] });

describe('RequestLimiter options', () => {
  const { limiter } = fake('keyed', []);
  it.each([
    [undefined, TypeError, /testRateLimit needs options: \{ limiter \}/],
    [{}, TypeError, /testRateLimit: limiter is required/],
    [{ limiter: { take() {} } }, TypeError, /testRateLimit: limiter must be a bucket of this library .* got an object/],
    [{ limiter: { [KIND]: 'keyed', capacity: 1 } }, TypeError, /testRateLimit: limiter has no take\(\) method/],
    [{ limiter, maxWait: -1 }, RangeError, /testRateLimit: maxWait must be a number of milliseconds >= 0, got -1/],
    [{ limiter, maxWaiting: 1.5 }, RangeError, /testRateLimit: maxWaiting must be an integer >= 0 \(or Infinity\), got 1.5/],
    [{ limiter, maxWaitingTotal: '10' }, TypeError, /testRateLimit: maxWaitingTotal must be a number, got "10"/],
    [{ limiter, cost: 3 }, RangeError, /testRateLimit: cost must be at most the limiter's capacity \(2\), got 3: such a request could never pass/],
    [{ limiter, cost: -1 }, RangeError, /testRateLimit: cost must be a finite number >= 0, got -1/],
    [{ limiter, key: 'user' }, TypeError, /testRateLimit: key must be a function, got "user"/],
    [{ limiter, skip: true }, TypeError, /testRateLimit: skip must be a function, got true/],
    [{ limiter, headers: 'draft-6' }, TypeError, /testRateLimit: headers must be one of 'draft-11', 'draft-7', 'legacy', true or false, got "draft-6"/],
    [{ limiter, maxwait: 5 }, TypeError, /testRateLimit options has an unknown option "maxwait"/],
  ] as const)('%j', (options, type, message) => {
    expect(() => core(options as never)).toThrow(type);
    expect(() => core(options as never)).toThrow(message);
  });

  it('a keyed limiter needs a key where the adapter has no default', () => {
    expect(() => new RequestLimiter({ limiter }, { name: 'x', keyHint: 'say who', extraKeys: [] })).toThrow(/x: key is required with a keyed limiter: say who/);
    expect(() => new RequestLimiter({ limiter: fake('single', []).limiter }, { name: 'x', extraKeys: [] })).not.toThrow();
  });

  it('policyNames must name every limit of a limiter that lists them', () => {
    const two = Object.assign(fake('keyed', []).limiter, { limits: [{}, {}] });
    expect(() => core({ limiter: two, policyNames: ['a'] })).toThrow(/policyNames has 1 name\(s\) but the limiter has 2 limit\(s\)/);
    expect(() => core({ limiter: two, policyNames: ['a', 'b'] })).not.toThrow();
  });
});

describe('RequestLimiter.decide', () => {
  it('answers synchronously when the limiter and the functions do', () => {
    const { limiter, calls } = fake('keyed', [verdict(true), verdict(false)]);
    const c = core({ limiter });
    const first = c.decide({ key: 'a' }, undefined, never) as Verdict;
    expect(first.allowed).toBe(true);
    expect((c.decide({ key: 'a' }, undefined, never) as Verdict).allowed).toBe(false);
    expect(calls).toEqual([['take', 'a', 1], ['take', 'a', 1]]);
  });

  it('skip first (nothing else is asked), then cost, then key, then take', async () => {
    const order: string[] = [];
    const { limiter, calls } = fake('keyed', []);
    const c = core({
      limiter,
      skip: (r: Req) => (order.push('skip'), Promise.resolve(r.skip === true)),
      cost: (r: Req) => (order.push('cost'), r.cost ?? 1),
      key: (r: Req) => (order.push('key'), Promise.resolve(`user:${r.key}`)),
    });
    expect(await c.decide({ skip: true }, undefined, never)).toBe(SKIPPED);
    expect(order).toEqual(['skip']);
    expect(((await c.decide({ key: 'a', cost: 2 }, undefined, never)) as Verdict).allowed).toBe(true);
    expect(order).toEqual(['skip', 'skip', 'cost', 'key']);
    expect(calls).toEqual([['take', 'user:a', 2]]);
  });

  it('a per-route cost overrides the option', () => {
    const { limiter, calls } = fake('single', []);
    core({ limiter, cost: 2 }).decide({}, 0.5, never);
    expect(calls).toEqual([['take', 0.5]]);
  });

  it('key results are checked and capped', async () => {
    const { limiter, calls } = fake('keyed', []);
    expect(() => core({ limiter, key: () => 42 }).decide({}, undefined, never)).toThrow(/key\(req\) must return a string \(or a promise of one\), got 42/);
    await core({ limiter, key: async () => 'z'.repeat(300) }).decide({}, undefined, never);
    expect(String(calls[0]![1])).toMatch(/^fnv1a64:[0-9a-f]{16}:300$/);
  });

  it('maxWait 0 never waits', () => {
    const { limiter, calls } = fake('keyed', [verdict(false, 1)]);
    expect((core({ limiter }).decide({ key: 'a' }, undefined, never) as Verdict).allowed).toBe(false);
    expect(calls).toHaveLength(1);
  });

  it('a refused request that may wait acquires, then reads the levels with take(key, 0)', async () => {
    const { limiter, calls } = fake('keyed', [verdict(false, 500), verdict(true)]);
    const signal = new AbortController().signal;
    let released = 0;
    const out = await core({ limiter, maxWait: 1000 }).decide({ key: 'a' }, undefined, () => ({ signal, release: () => void released++ }));
    expect(out).toMatchObject({ allowed: true, decision: { allowed: true, retryAfter: 0 } });
    expect(calls).toEqual([['take', 'a', 1], ['acquire', 'a', 1, { maxWait: 1000, signal }], ['take', 'a', 0]]);
    expect(released).toBe(1);
  });

  it('a single bucket waits with acquire(n, options); its per-client waiting cap uses the default key', async () => {
    let release!: () => void;
    const { limiter, calls } = fake('single', [verdict(false, 500), verdict(false, 500), verdict(true)], () => new Promise<void>((r) => (release = r)));
    const c = core({ limiter, maxWait: 1000, maxWaiting: 1 });
    const waiting = c.decide({ key: 'a' }, undefined, never);
    expect(await c.decide({ key: 'a' }, undefined, never)).toMatchObject({ allowed: false });
    release();
    expect(await waiting).toMatchObject({ allowed: true });
    expect(calls.map((c) => c.slice(0, 2))).toEqual([['take', 1], ['acquire', 1], ['take', 1], ['take', 0]]);
  });

  it('a wait the limiter refuses is a 429 with its retryAfter; one whose client left is GONE; other errors are thrown', async () => {
    const refused = fake('keyed', [verdict(false, 500)], () => Promise.reject(new RateLimitExceeded(700)));
    expect(await core({ limiter: refused.limiter, maxWait: 1000 }).decide({ key: 'a' }, undefined, never)).toMatchObject({ allowed: false, decision: { retryAfter: 700 } });

    const controller = new AbortController();
    const left = fake('keyed', [verdict(false, 500)], () => (controller.abort(), Promise.reject(controller.signal.reason)));
    expect(await core({ limiter: left.limiter, maxWait: 1000 }).decide({ key: 'a' }, undefined, () => ({ signal: controller.signal, release() {} }))).toBe(GONE);

    const broken = fake('keyed', [verdict(false, 500)], () => Promise.reject(new Error('redis down')));
    await expect(core({ limiter: broken.limiter, maxWait: 1000 }).decide({ key: 'a' }, undefined, never)).rejects.toThrow('redis down');
  });

  it('tokens already taken are not lost because the levels cannot be read afterwards', async () => {
    const { limiter } = fake('keyed', [verdict(false, 500), () => { throw new Error('cannot read'); }]);
    expect(await core({ limiter, maxWait: 1000 }).decide({ key: 'a' }, undefined, never)).toMatchObject({ allowed: true, decision: { allowed: true, retryAfter: 0 } });
  });

  it('a wait longer than maxWait, or one that never ends, is refused without queueing', () => {
    const { limiter, calls } = fake('keyed', [verdict(false, 1001), verdict(false, Infinity)]);
    const c = core({ limiter, maxWait: 1000 });
    expect((c.decide({ key: 'a' }, undefined, never) as Verdict).allowed).toBe(false);
    expect((c.decide({ key: 'a' }, undefined, never) as Verdict).allowed).toBe(false);
    expect(calls.map((x) => x[0])).toEqual(['take', 'take']);
  });

  it('policy names default to the bucket names of a hierarchy, leaf first', () => {
    const root = { name: 'global', parent: undefined };
    const leaf = Object.assign(fake('single', [{ ...verdict(true), limits: [verdict(true).limits[0]!, verdict(true).limits[0]!] }]).limiter, { name: 'search', parent: root });
    const c = core({ limiter: leaf });
    const headers: Record<string, string> = {};
    c.writeHeaders((c.decide({}, undefined, never) as Verdict).decision, (k, v) => (headers[k] = v));
    expect(headers['RateLimit-Policy']).toBe('"search";q=2;w=2, "global";q=2;w=2');
  });
});
