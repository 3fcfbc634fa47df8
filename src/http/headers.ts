// The one serializer of rate-limit response headers: a Decision in, header fields out. Every
// adapter sends what this returns, and `rateLimitHeaders` hands it to users of other servers.
//
// The default form is draft-ietf-httpapi-ratelimit-headers-11 (23 May 2026), sections 3 and 4:
// both fields are Structured Field Lists (RFC 9651) of Items whose value is a String naming the
// policy, with Integer parameters:
//
//   RateLimit-Policy: "default";q=10;w=5            one item per limit: q quota, w window (seconds)
//   RateLimit: "default";r=7;t=2                    one item per limit: r available, t effective window
//
// A token bucket maps onto it as: q = capacity (whole tokens), w = seconds to refill the whole
// capacity at fillRate (rounded up; omitted for a fixed quota, fillRate 0, which has no window),
// r = whole tokens left, t = seconds until the limit is full again (rounded up; omitted when it
// never refills). Over that t a client can spend r plus what refills meanwhile; the draft leaves
// the algorithm to the server (section 1.1) and only asks for a non-negative Integer.

import { EPSILON } from '../core/refill.js';
import type { Decision, LimitDecision } from '../types.js';
import * as check from '../validate.js';

/**
 * Which rate-limit header fields a response carries:
 * - `'draft-11'` (or `true`, the default): `RateLimit-Policy` and `RateLimit` as
 *   draft-ietf-httpapi-ratelimit-headers-11 defines them, one item per limit;
 * - `'draft-7'`: the older draft-07 form, `RateLimit: limit=…, remaining=…, reset=…` (the limit
 *   with the fewest tokens left) and `RateLimit-Policy: <q>;w=<w>, …`;
 * - `'legacy'`: `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (a Unix time in
 *   seconds, as GitHub sends it);
 * - `false`: none of them.
 *
 * `Retry-After` is sent on every refusal whatever this says.
 */
export type RateLimitHeadersMode = boolean | 'draft-11' | 'draft-7' | 'legacy';

/** Options of {@link rateLimitHeaders}. */
export interface RateLimitHeadersOptions {
  /** Which header fields to produce (default `'draft-11'`). */
  headers?: RateLimitHeadersMode;
  /**
   * Names of the policies in the draft-11 fields, one per limit in the order of
   * `decision.limits` (a list of another length is not used). Default: `"default"` for a single
   * limit, `"limit-1"`, `"limit-2"`, … for several. Printable ASCII only (Structured Field Strings).
   */
  policyNames?: readonly string[];
  /** Wall-clock time in ms since the epoch, for the legacy `X-RateLimit-Reset` (default `Date.now()`). */
  now?: number;
}

/** Header field names mapped to their values. */
export type RateLimitHeaderMap = Record<string, string>;

const MODES: readonly unknown[] = [true, false, 'draft-11', 'draft-7', 'legacy'];

/** The largest Structured Field Integer (RFC 9651, section 3.3.1): 15 decimal digits. */
const SF_INTEGER_MAX = 999_999_999_999_999;

/** The header fields for `decision` (see {@link RateLimitHeadersMode}), plus `Retry-After` on a refusal. */
export function rateLimitHeaders(decision: Decision, options?: RateLimitHeadersOptions): RateLimitHeaderMap {
  const o = check.options<RateLimitHeadersOptions>('rateLimitHeaders options', options);
  check.knownKeys('rateLimitHeaders options', o, ['headers', 'policyNames', 'now']);
  const write = headerWriter(o.headers, o.policyNames);
  const now = o.now === undefined ? Date.now() : check.nonNegative('now', o.now);
  checkDecision(decision);
  const out: RateLimitHeaderMap = {};
  write(decision, now, (name, value) => {
    out[name] = value;
  });
  return out;
}

/** Receives each header field a writer produces. */
export type HeaderSink = (name: string, value: string) => void;

/** Writes the header fields of one decision (`now`: epoch ms, read by the legacy form only). */
export type HeaderWriter = (decision: Decision, now: number, sink: HeaderSink) => void;

/** The writer for a `headers` option (checked here, so adapters fail at creation on a bad one). */
export function headerWriter(mode: unknown, policyNames: unknown, name = 'headers'): HeaderWriter {
  if (mode !== undefined && !MODES.includes(mode)) {
    throw new TypeError(`${name} must be one of 'draft-11', 'draft-7', 'legacy', true or false, got ${check.show(mode)}`);
  }
  const names = checkPolicyNames(policyNames);
  switch (mode) {
    case false:
      return retryAfterOnly;
    case 'draft-7':
      return draft7;
    case 'legacy':
      return legacy;
    default:
      return (decision, _now, sink) => draft11(decision, names, sink);
  }
}

/** Whole seconds in `ms`, rounded up; float noise a hair above a whole second does not add one. */
export function ceilSeconds(ms: number): number {
  const s = ms / 1000;
  return capInteger(Math.ceil(s - s * 1e-12));
}

/** `Retry-After` of a refusal: whole seconds, rounded up; none when the request can never pass. */
function retryAfter(decision: Decision, sink: HeaderSink): void {
  if (!decision.allowed && decision.retryAfter !== Infinity) sink('Retry-After', String(ceilSeconds(Math.max(0, decision.retryAfter))));
}

const retryAfterOnly: HeaderWriter = (decision, _now, sink) => retryAfter(decision, sink);

function draft11(decision: Decision, names: readonly string[] | undefined, sink: HeaderSink): void {
  const limits = decision.limits;
  if (limits.length > 0) {
    // Names apply one per limit; a list of another length (a hierarchy whose levels hold several
    // limits each) would name the wrong ones, so the default names stand in.
    const named = names !== undefined && names.length === limits.length;
    let policy = '';
    let state = '';
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      const item = sfString(named ? names[i]! : defaultName(i, limits.length));
      const sep = i === 0 ? '' : ', ';
      policy += `${sep}${item};q=${quota(l)}${l.fillRate > 0 ? `;w=${ceilSeconds(1000 * l.capacity / l.fillRate)}` : ''}`;
      state += `${sep}${item};r=${whole(l.remaining)}${l.resetAfter !== Infinity ? `;t=${ceilSeconds(Math.max(0, l.resetAfter))}` : ''}`;
    }
    sink('RateLimit-Policy', policy);
    sink('RateLimit', state);
  }
  retryAfter(decision, sink);
}

// draft-07 (section 3): RateLimit is a Dictionary describing "the service limit closest to
// reaching its limit"; its reset is required, so a limit that never refills reports the largest
// Integer. RateLimit-Policy lists every limit as `<quota>;w=<window>`.
const draft7: HeaderWriter = (decision, _now, sink) => {
  const l = expiring(decision.limits);
  if (l !== undefined) {
    sink('RateLimit-Policy', decision.limits.map((p) => (p.fillRate > 0 ? `${quota(p)};w=${ceilSeconds(1000 * p.capacity / p.fillRate)}` : `${quota(p)}`)).join(', '));
    sink('RateLimit', `limit=${quota(l)}, remaining=${whole(l.remaining)}, reset=${l.resetAfter === Infinity ? SF_INTEGER_MAX : ceilSeconds(Math.max(0, l.resetAfter))}`);
  }
  retryAfter(decision, sink);
};

const legacy: HeaderWriter = (decision, now, sink) => {
  const l = expiring(decision.limits);
  if (l !== undefined) {
    sink('X-RateLimit-Limit', String(quota(l)));
    sink('X-RateLimit-Remaining', String(whole(l.remaining)));
    if (l.resetAfter !== Infinity) sink('X-RateLimit-Reset', String(ceilSeconds(now + Math.max(0, l.resetAfter))));
  }
  retryAfter(decision, sink);
};

/** The limit with the fewest tokens left (the first of equals): the one a client runs into first. */
function expiring(limits: readonly LimitDecision[]): LimitDecision | undefined {
  let pick: LimitDecision | undefined;
  for (const l of limits) if (pick === undefined || l.remaining < pick.remaining) pick = l;
  return pick;
}

function defaultName(i: number, count: number): string {
  return count === 1 ? 'default' : `limit-${i + 1}`;
}

/** The quota of a limit: whole tokens (a capacity of 2.5 lets 2 one-token requests through at once). */
function quota(l: LimitDecision): number {
  return whole(l.capacity);
}

/** Whole tokens in a level, counting a level within float slack of the next whole number as it (as the buckets do). */
function whole(tokens: number): number {
  return tokens > 0 ? capInteger(Math.floor(tokens + EPSILON)) : 0;
}

function capInteger(n: number): number {
  return n > SF_INTEGER_MAX ? SF_INTEGER_MAX : n;
}

/** A Structured Field String (RFC 9651, section 4.1.6): quotes, with `"` and `\` escaped. */
function sfString(s: string): string {
  return `"${s.replace(/["\\]/g, '\\$&')}"`;
}

function checkPolicyNames(value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError(`policyNames must be a non-empty array of strings (one per limit), got ${check.show(value)}`);
  }
  const names = value.map((n: unknown, i) => {
    // A Structured Field String holds printable ASCII only.
    if (typeof n !== 'string' || n === '' || !/^[\x20-\x7e]+$/.test(n)) {
      throw new TypeError(`policyNames[${i}] must be a non-empty string of printable ASCII characters, got ${check.show(n)}`);
    }
    return n;
  });
  if (new Set(names).size !== names.length) throw new TypeError(`policyNames must be distinct, got ${names.map((n) => JSON.stringify(n)).join(', ')}`);
  return Object.freeze(names);
}

function checkDecision(d: unknown): void {
  const x = d as Partial<Decision> | null;
  if (typeof x !== 'object' || x === null || typeof x.allowed !== 'boolean' || !Array.isArray(x.limits)) {
    throw new TypeError(`decision must be a Decision (what take() returns), got ${check.show(d)}`);
  }
}
