// The behaviour every adapter must show, run against a real server of each (servers.ts) with real
// fetch requests: one case table, one driver per framework, so they cannot drift apart. Limiters
// run on a ManualClock: time moves only when a case says so, and nothing sleeps.

import { ManualClock } from 'bucketflow';
import { parseList, type Item } from 'structured-headers';
import { afterEach, describe, expect, it } from 'vitest';
import { keyedLimiter, singleLimiter } from './limiters.js';
import type { Driver, Running, Setup } from './servers.js';

/** Waits (really: polling) until `cond` holds; for server-side effects of a request in flight. */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The items of a Structured Field List header, as [value, params]. */
export function items(value: string | null): Array<[unknown, Record<string, unknown>]> {
  expect(value).not.toBeNull();
  return parseList(value!).map((entry) => {
    const [bare, params] = entry as Item;
    return [bare, Object.fromEntries(params)];
  });
}

export function runAdapterCases(driver: Driver): void {
  describe(`${driver.name}: shared behaviour`, () => {
    let running: Running | undefined;
    afterEach(async () => {
      await running?.close();
      running = undefined;
    });
    const start = async (setup: Setup): Promise<string> => {
      running = await driver.start(setup);
      return running.url;
    };
    const get = (url: string, headers: Record<string, string> = {}, path = '/') => fetch(`${url}${path}`, { headers });

    it('passes capacity requests, refuses the next with 429, and says so in draft-11 headers', async () => {
      const clock = new ManualClock();
      const url = await start({ limiter: keyedLimiter({ capacity: 3, fillRate: 1 }, clock), keyFromHeader: true });
      const seen: Array<[number, string | null, string | null, string | null]> = [];
      for (let i = 0; i < 4; i++) {
        const res = await get(url, { 'x-key': 'a' });
        await res.text();
        seen.push([res.status, res.headers.get('ratelimit-policy'), res.headers.get('ratelimit'), res.headers.get('retry-after')]);
      }
      expect(seen.map((s) => s[0])).toEqual([200, 200, 200, 429]);
      for (const [, policy] of seen) expect(items(policy)).toEqual([['default', { q: 3, w: 3 }]]);
      // r: whole tokens left; t: seconds until full again, rounded up.
      expect(seen.map(([, , state]) => items(state))).toEqual([
        [['default', { r: 2, t: 1 }]],
        [['default', { r: 1, t: 2 }]],
        [['default', { r: 0, t: 3 }]],
        [['default', { r: 0, t: 3 }]],
      ]);
      expect(seen.map((s) => s[3])).toEqual([null, null, null, '1']);
      // Another key has a budget of its own.
      expect((await get(url, { 'x-key': 'b' })).status).toBe(200);
    });

    it("Retry-After is honest: a request sent once it has passed gets through", async () => {
      const clock = new ManualClock();
      const url = await start({ limiter: keyedLimiter({ capacity: 2, fillRate: 0.4 }, clock), keyFromHeader: true });
      expect((await get(url, { 'x-key': 'a' })).status).toBe(200);
      expect((await get(url, { 'x-key': 'a' })).status).toBe(200);
      clock.advance(700);
      const refused = await get(url, { 'x-key': 'a' });
      expect(refused.status).toBe(429);
      const seconds = Number(refused.headers.get('retry-after'));
      expect(seconds).toBe(2); // 1 token at 0.4/s is 2.5 s away, 0.7 s of it gone: 1.8 s, rounded up
      clock.advance(seconds * 1000);
      expect((await get(url, { 'x-key': 'a' })).status).toBe(200);
    });

    it('a single bucket is one budget for every client', async () => {
      const clock = new ManualClock();
      const url = await start({ limiter: singleLimiter({ capacity: 2, fillRate: 1 }, clock) });
      expect((await get(url, { 'x-key': 'a' })).status).toBe(200);
      expect((await get(url, { 'x-key': 'b' })).status).toBe(200);
      const third = await get(url, { 'x-key': 'c' });
      expect(third.status).toBe(429);
      expect(third.headers.get('retry-after')).toBe('1');
    });

    it('charges cost tokens per request; a cost above capacity can never pass (429 without Retry-After)', async () => {
      const clock = new ManualClock();
      const url = await start({ limiter: keyedLimiter({ capacity: 5, fillRate: 1 }, clock), keyFromHeader: true, costFromHeader: true });
      const first = await get(url, { 'x-key': 'a', 'x-cost': '3' });
      expect(first.status).toBe(200);
      expect(items(first.headers.get('ratelimit'))).toEqual([['default', { r: 2, t: 3 }]]);
      const second = await get(url, { 'x-key': 'a', 'x-cost': '3' });
      expect(second.status).toBe(429);
      expect(second.headers.get('retry-after')).toBe('1');
      expect((await get(url, { 'x-key': 'a', 'x-cost': '2' })).status).toBe(200);
      const never = await get(url, { 'x-key': 'b', 'x-cost': '6' });
      expect(never.status).toBe(429);
      expect(never.headers.get('retry-after')).toBeNull();
    });

    it('a cost function returning a bad value goes to the error handler', async () => {
      const url = await start({ limiter: keyedLimiter({ capacity: 5, fillRate: 1 }, new ManualClock()), keyFromHeader: true, costFromHeader: true });
      const res = await get(url, { 'x-key': 'a', 'x-cost': 'lots' });
      expect(res.status).toBe(500);
      expect(await res.text()).toMatch(/handled: cost\(req\) must return a finite number >= 0/);
    });

    it('skipped requests pass untouched: no tokens, no headers', async () => {
      const clock = new ManualClock();
      const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, clock);
      const url = await start({ limiter, keyFromHeader: true, skipHealth: true });
      for (let i = 0; i < 3; i++) {
        const res = await get(url, { 'x-key': 'a' }, '/health');
        expect(res.status).toBe(200);
        expect(res.headers.get('ratelimit')).toBeNull();
      }
      expect((await get(url, { 'x-key': 'a' })).status).toBe(200);
      expect((await get(url, { 'x-key': 'a' })).status).toBe(429);
    });

    it('onLimited answers refusals its own way', async () => {
      const url = await start({ limiter: keyedLimiter({ capacity: 1, fillRate: 1 }, new ManualClock()), keyFromHeader: true, customRefusal: true });
      await get(url, { 'x-key': 'a' });
      const res = await get(url, { 'x-key': 'a' });
      expect(res.status).toBe(503);
      expect(await res.text()).toBe('custom');
      expect(res.headers.get('retry-after')).toBe('1');
    });

    it.each([
      ['draft-7', { 'ratelimit-policy': '3;w=3', ratelimit: 'limit=3, remaining=2, reset=1' }],
      ['legacy', { 'x-ratelimit-limit': '3', 'x-ratelimit-remaining': '2' }],
      [false, {}],
    ] as const)('headers: %s', async (mode, expected) => {
      const url = await start({ limiter: keyedLimiter({ capacity: 3, fillRate: 1 }, new ManualClock()), keyFromHeader: true, headers: mode });
      const res = await get(url, { 'x-key': 'a' });
      const got = Object.fromEntries([...res.headers].filter(([k]) => /ratelimit/.test(k)));
      if (mode === 'legacy') {
        const reset = Number(got['x-ratelimit-reset']);
        expect(Math.abs(reset - Math.ceil((Date.now() + 1000) / 1000))).toBeLessThanOrEqual(2); // a Unix time
        delete got['x-ratelimit-reset'];
      }
      expect(got).toEqual(expected);
    });

    it('maxWait: a request waits its turn instead of a 429, and gets headers of the levels after it', async () => {
      const clock = new ManualClock();
      const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, clock);
      const url = await start({ limiter, keyFromHeader: true, maxWait: 5000 });
      expect((await get(url, { 'x-key': 'a' })).status).toBe(200);
      const waiting = get(url, { 'x-key': 'a' });
      await until(() => limiter.tokens('a') < 0, 'the second request is queued');
      clock.advance(1000);
      const res = await waiting;
      expect(res.status).toBe(200);
      expect(items(res.headers.get('ratelimit'))).toEqual([['default', { r: 0, t: 1 }]]);
    });

    it('maxWait: a request that would wait longer is refused at once', async () => {
      const url = await start({ limiter: keyedLimiter({ capacity: 1, fillRate: 1 }, new ManualClock()), keyFromHeader: true, maxWait: 999 });
      expect((await get(url, { 'x-key': 'a' })).status).toBe(200);
      const res = await get(url, { 'x-key': 'a' });
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('1');
    });

    it('maxWait: a client that disconnects while waiting is dropped and its tokens come back', async () => {
      const clock = new ManualClock();
      const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, clock);
      const url = await start({ limiter, keyFromHeader: true, maxWait: 10_000 });
      expect((await get(url, { 'x-key': 'a' })).status).toBe(200);
      const abort = new AbortController();
      const gone = fetch(`${url}/`, { headers: { 'x-key': 'a' }, signal: abort.signal });
      await until(() => limiter.tokens('a') < 0, 'the request is queued');
      abort.abort();
      await expect(gone).rejects.toThrow();
      await until(() => limiter.tokens('a') >= 0, 'the reservation is given back');
      clock.advance(1000);
      const next = await get(url, { 'x-key': 'a' });
      expect(next.status).toBe(200);
      expect(items(next.headers.get('ratelimit'))).toEqual([['default', { r: 0, t: 1 }]]);
    });

    it('maxWaiting caps the waiters of one key, maxWaitingTotal those of all keys: past them, 429 at once', async () => {
      const clock = new ManualClock();
      const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, clock);
      const url = await start({ limiter, keyFromHeader: true, maxWait: 60_000, maxWaiting: 2, maxWaitingTotal: 3 });
      for (const key of ['a', 'b']) expect((await get(url, { 'x-key': key })).status).toBe(200);
      const queued = [get(url, { 'x-key': 'a' }), get(url, { 'x-key': 'a' })];
      await until(() => limiter.tokens('a') <= -2, 'two requests of a are queued');
      const third = await get(url, { 'x-key': 'a' });
      expect(third.status).toBe(429);
      expect(third.headers.get('retry-after')).toBe('3');
      queued.push(get(url, { 'x-key': 'b' }));
      await until(() => limiter.tokens('b') <= -1, 'one request of b is queued');
      expect((await get(url, { 'x-key': 'c' })).status).toBe(200); // needs no wait
      expect((await get(url, { 'x-key': 'c' })).status).toBe(429); // would wait: 3 are waiting already
      clock.advance(2000);
      expect((await Promise.all(queued)).map((r) => r.status)).toEqual([200, 200, 200]);
    });

    it('a huge header used as the key is hashed: the limiter never sees a key over 256 characters', async () => {
      const clock = new ManualClock();
      const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, clock);
      const keys: string[] = [];
      const spy = Object.create(limiter, {
        take: { value: (key: string, n?: number) => (keys.push(key), limiter.take(key, n)) },
      }) as typeof limiter;
      const url = await start({ limiter: spy, keyFromHeader: true, maxHeaderSize: 4 << 20 });
      const huge = 'k'.repeat(1 << 20);
      expect((await get(url, { 'x-key': huge })).status).toBe(200);
      expect((await get(url, { 'x-key': huge })).status).toBe(429);
      expect((await get(url, { 'x-key': `${huge.slice(1)}j` })).status).toBe(200);
      expect(keys).toHaveLength(3);
      for (const k of keys) expect(k.length).toBeLessThanOrEqual(256);
      expect(keys[0]).toBe(keys[1]);
      expect(keys[2]).not.toBe(keys[0]);
    });

    it.each([
      ['throws', () => { throw new Error('limiter down'); }],
      ['rejects', () => Promise.reject(new Error('limiter down'))],
    ] as const)('a limiter that %s: the error handler answers 500, never 200', async (_how, take) => {
      const limiter = keyedLimiter({ capacity: 10, fillRate: 1 }, new ManualClock());
      const url = await start({ limiter: Object.assign(limiter, { take }), keyFromHeader: true });
      const res = await get(url, { 'x-key': 'a' });
      expect(res.status).toBe(500);
      expect(await res.text()).toBe('handled: limiter down');
    });

    it('a rejected wait (not a refusal) goes to the error handler too', async () => {
      const limiter = keyedLimiter({ capacity: 1, fillRate: 1 }, new ManualClock());
      const url = await start({
        limiter: Object.assign(limiter, { acquire: () => Promise.reject(new Error('lost the connection')) }),
        keyFromHeader: true,
        maxWait: 5000,
      });
      expect((await get(url, { 'x-key': 'a' })).status).toBe(200);
      const res = await get(url, { 'x-key': 'a' });
      expect(res.status).toBe(500);
      expect(await res.text()).toBe('handled: lost the connection');
    });
  });
}

