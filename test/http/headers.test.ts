// The one header serializer: draft-ietf-httpapi-ratelimit-headers-11 by default (checked with a
// real RFC 9651 parser), the draft-07 and legacy forms, Retry-After, and the rounding rules.

import { rateLimitHeaders, type Decision, type LimitDecision } from 'bucketflow/http';
import { parseDictionary, parseList, Token, type Item } from 'structured-headers';
import { describe, expect, it } from 'vitest';

const limit = (capacity: number, fillRate: number, remaining: number, resetAfter: number): LimitDecision => ({ capacity, fillRate, remaining, resetAfter });

function decide(allowed: boolean, limits: LimitDecision[], retryAfter = allowed ? 0 : 1000): Decision {
  return {
    allowed,
    remaining: Math.min(...limits.map((l) => l.remaining)),
    retryAfter,
    resetAfter: Math.max(...limits.map((l) => l.resetAfter)),
    limits,
  };
}

/** A Structured Field List as [value, params] pairs; values that are Tokens show up as Token objects. */
const list = (value: string | undefined) => parseList(value!).map((m) => {
  const [bare, params] = m as Item;
  return [bare, Object.fromEntries(params)];
});

describe('rateLimitHeaders: draft-11 (the default)', () => {
  it('one String-named item per limit: q = capacity, w = seconds to refill it; r = whole tokens left, t = seconds until full', () => {
    const h = rateLimitHeaders(decide(true, [limit(10, 2, 7.9, 1050)]));
    expect(h).toEqual({ 'RateLimit-Policy': '"default";q=10;w=5', RateLimit: '"default";r=7;t=2' });
    expect(list(h['RateLimit-Policy'])).toEqual([['default', { q: 10, w: 5 }]]);
    expect(list(h.RateLimit)).toEqual([['default', { r: 7, t: 2 }]]);
    expect(list(h.RateLimit)[0]![0]).not.toBeInstanceOf(Token); // the draft requires a String
  });

  it('several limits: one item each, in the order of decision.limits, named limit-1, limit-2, …', () => {
    const h = rateLimitHeaders(decide(true, [limit(10, 10, 3, 700), limit(1000, 1000 / 3600, 995, 18_000)]));
    expect(list(h['RateLimit-Policy'])).toEqual([['limit-1', { q: 10, w: 1 }], ['limit-2', { q: 1000, w: 3600 }]]);
    expect(list(h.RateLimit)).toEqual([['limit-1', { r: 3, t: 1 }], ['limit-2', { r: 995, t: 18 }]]);
  });

  it('policyNames name the items; quotes and backslashes are escaped', () => {
    const h = rateLimitHeaders(decide(true, [limit(5, 1, 5, 0), limit(50, 1, 50, 0)]), { policyNames: ['per "second"', 'a\\b'] });
    expect(h['RateLimit-Policy']).toBe('"per \\"second\\"";q=5;w=5, "a\\\\b";q=50;w=50');
    expect(list(h['RateLimit-Policy']).map((i) => i[0])).toEqual(['per "second"', 'a\\b']);
  });

  it('a fixed quota (fillRate 0) has no window: w is omitted, and so is t while it is not full', () => {
    const h = rateLimitHeaders(decide(true, [limit(100, 0, 40, Infinity)]));
    expect(list(h['RateLimit-Policy'])).toEqual([['default', { q: 100 }]]);
    expect(list(h.RateLimit)).toEqual([['default', { r: 40 }]]);
  });

  it('rounds honestly: float noise a hair above a whole number adds nothing, anything more rounds up', () => {
    // 3 / 0.3 is 10.000000000000002 in floating point.
    expect(list(rateLimitHeaders(decide(true, [limit(3, 0.3, 3, 0)]))['RateLimit-Policy'])).toEqual([['default', { q: 3, w: 10 }]]);
    expect(list(rateLimitHeaders(decide(true, [limit(3, 1, 2.9999999999, 1000.0000000001)])).RateLimit)).toEqual([['default', { r: 3, t: 1 }]]);
    expect(list(rateLimitHeaders(decide(true, [limit(3, 1, 2.99, 1001)])).RateLimit)).toEqual([['default', { r: 2, t: 2 }]]);
    // A fractional capacity lets only its whole tokens through at once.
    expect(list(rateLimitHeaders(decide(true, [limit(2.5, 1, 0.5, 2000)]))['RateLimit-Policy'])).toEqual([['default', { q: 2, w: 3 }]]);
  });

  it('values too large for a Structured Field Integer are capped at its largest', () => {
    const h = rateLimitHeaders(decide(true, [limit(1e18, 1e-6, 1e18, 0)]));
    expect(list(h['RateLimit-Policy'])).toEqual([['default', { q: 999_999_999_999_999, w: 999_999_999_999_999 }]]);
  });

  it('a refusal adds Retry-After in whole seconds, rounded up; none when it can never pass', () => {
    expect(rateLimitHeaders(decide(false, [limit(5, 1, 0, 5000)], 1200))['Retry-After']).toBe('2');
    expect(rateLimitHeaders(decide(false, [limit(5, 1, 0, 5000)], 1000))['Retry-After']).toBe('1');
    expect(rateLimitHeaders(decide(false, [limit(5, 0, 0, Infinity)], Infinity))['Retry-After']).toBeUndefined();
    expect(rateLimitHeaders(decide(true, [limit(5, 1, 4, 1000)]))['Retry-After']).toBeUndefined();
  });
});

describe('rateLimitHeaders: other forms', () => {
  const two = decide(false, [limit(10, 10, 0, 1000), limit(1000, 1, 990, 10_000)], 100);

  it("'draft-7': RateLimit is a Dictionary of the limit with the fewest tokens left; RateLimit-Policy lists every limit", () => {
    const h = rateLimitHeaders(two, { headers: 'draft-7' });
    expect(h).toEqual({ 'RateLimit-Policy': '10;w=1, 1000;w=1000', RateLimit: 'limit=10, remaining=0, reset=1', 'Retry-After': '1' });
    expect(Object.fromEntries([...parseDictionary(h.RateLimit!)].map(([k, [v]]) => [k, v]))).toEqual({ limit: 10, remaining: 0, reset: 1 });
    expect(list(h['RateLimit-Policy'])).toEqual([[10, { w: 1 }], [1000, { w: 1000 }]]);
  });

  it("'legacy': the X-RateLimit trio, Reset as a Unix time in seconds", () => {
    const now = Date.UTC(2026, 0, 1);
    expect(rateLimitHeaders(two, { headers: 'legacy', now })).toEqual({
      'X-RateLimit-Limit': '10', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': String(now / 1000 + 1), 'Retry-After': '1',
    });
  });

  it('false: no rate-limit fields, but Retry-After still on a refusal', () => {
    expect(rateLimitHeaders(two, { headers: false })).toEqual({ 'Retry-After': '1' });
    expect(rateLimitHeaders(decide(true, [limit(1, 1, 1, 0)]), { headers: false })).toEqual({});
  });

  it('true is the default form', () => {
    expect(rateLimitHeaders(two, { headers: true })).toEqual(rateLimitHeaders(two));
  });
});

describe('rateLimitHeaders: bad arguments', () => {
  const d = decide(true, [limit(1, 1, 1, 0)]);
  it.each([
    [{ headers: 'draft-8' }, TypeError, /headers must be one of 'draft-11', 'draft-7', 'legacy', true or false, got "draft-8"/],
    [{ policyNames: [] }, TypeError, /policyNames must be a non-empty array/],
    [{ policyNames: ['ok', 'naïve'] }, TypeError, /policyNames\[1\] must be a non-empty string of printable ASCII/],
    [{ policyNames: ['a', 'a'] }, TypeError, /policyNames must be distinct/],
    [{ header: 'legacy' }, TypeError, /unknown option "header"/],
    [{ now: -1 }, RangeError, /now must be a finite number >= 0/],
  ] as const)('%j', (options, type, message) => {
    expect(() => rateLimitHeaders(d, options as never)).toThrow(type);
    expect(() => rateLimitHeaders(d, options as never)).toThrow(message);
  });

  it('a decision that is not one', () => {
    expect(() => rateLimitHeaders({ allowed: true } as never)).toThrow(/decision must be a Decision/);
  });
});
