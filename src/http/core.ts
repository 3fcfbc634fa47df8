// What every HTTP adapter shares: the options, checked once at creation, and the decision of one
// request (skip, cost, key, take, and the bounded first-come-first-served wait). Adapters only
// translate between their framework and this: where the request and its client's address are,
// how a disconnect is noticed, how headers and a refusal are sent, where errors go.
//
// A decision is synchronous whenever the limiter and the user's functions are (in-memory buckets),
// so adapters on those limiters go on in the same tick; a promise appears only where one is needed.

import { RateLimitExceeded } from '../errors.js';
import { kindOf } from '../kinds.js';
import type { AcquireOptions, Decision } from '../types.js';
import * as check from '../validate.js';
import { headerWriter, type HeaderSink, type HeaderWriter, type RateLimitHeadersMode } from './headers.js';
import { capKey } from './keys.js';

/**
 * A limiter with one bucket per key (`KeyedTokenBucket`, `RedisKeyedTokenBucket`): each client
 * key gets its own budget.
 */
export interface KeyedLimiter {
  readonly capacity: number;
  take(key: string, n?: number): Decision | Promise<Decision>;
  acquire(key: string, n?: number, options?: AcquireOptions): Promise<void>;
}

/** A single bucket (`TokenBucket`, `AsyncTokenBucket`, a hierarchy's bucket, Redis kinds): one budget for all clients. */
export interface SingleLimiter {
  readonly capacity: number;
  take(n?: number): Decision | Promise<Decision>;
  acquire(n?: number, options?: AcquireOptions): Promise<void>;
}

/** Any limiter of this library that has `take`: keyed or single. */
export type HttpLimiter = KeyedLimiter | SingleLimiter;

/** Tokens a request costs: a number, or a function of the request. */
export type RequestCost<Req> = number | ((req: Req) => number | Promise<number>);

/** Options every adapter takes; `Req` is what the adapter hands to `key`, `cost` and `skip`. */
export interface RateLimitCommonOptions<Req> {
  /**
   * The limiter: a keyed one (`KeyedTokenBucket`, `RedisKeyedTokenBucket`) gives every client
   * key its own budget; a single bucket is one budget shared by all clients.
   */
  limiter: HttpLimiter;
  /**
   * The client's key (a string, or a promise of one). Keys longer than 256 characters are
   * replaced by a hash of them. Express and Fastify default to the client's IP address as the
   * framework reports it, IPv6 grouped by `ipv6Subnet`; Hono and fetch have no address, so a
   * keyed limiter needs this there.
   */
  key?: (req: Req) => string | Promise<string>;
  /** Tokens per request: a number (default 1) or a function of the request. */
  cost?: RequestCost<Req>;
  /** Returns true (or a promise of true) for requests that pass untouched: no tokens, no headers. */
  skip?: (req: Req) => boolean | Promise<boolean>;
  /**
   * Longest wait in ms a request may spend queued for its tokens (first come, first served)
   * before it is refused with 429. Default 0: refuse at once. A client that disconnects while
   * waiting is dropped and its tokens are given back.
   */
  maxWait?: number;
  /** Most requests waiting at once for one client key (default 100); past it, 429 at once. */
  maxWaiting?: number;
  /** Most requests waiting at once for all keys together (default 10,000); past it, 429 at once. */
  maxWaitingTotal?: number;
  /** Which rate-limit header fields to send (default `'draft-11'`; see {@link RateLimitHeadersMode}). */
  headers?: RateLimitHeadersMode;
  /**
   * Policy names in the draft-11 header fields, one per limit. Default: the bucket names of a
   * hierarchy, else `"default"` for one limit and `"limit-1"`, `"limit-2"`, … for several.
   */
  policyNames?: readonly string[];
}

const COMMON_KEYS = ['limiter', 'key', 'cost', 'skip', 'maxWait', 'maxWaiting', 'maxWaitingTotal', 'headers', 'policyNames'] as const;

/** The answer to a request that was looked at: let it through, or refuse it. */
export interface Verdict {
  readonly allowed: boolean;
  /** What the response's headers are made from. */
  readonly decision: Decision;
}

/** The request was skipped (`skip` said so): no tokens, no headers. */
export const SKIPPED = Symbol('skipped');
/** The client disconnected while waiting: nobody to answer. */
export const GONE = Symbol('gone');

export type Outcome = Verdict | typeof SKIPPED | typeof GONE;

/** The signal that fires when the client goes away, made only for requests that wait. */
export interface Disconnect {
  readonly signal: AbortSignal;
  /** Stops watching the connection (the wait is over). */
  release(): void;
}

/** What an adapter tells the core about its framework. */
export interface AdapterSpec<Req> {
  /** The adapter's name, at the start of every option error. */
  readonly name: string;
  /** The key of a request when the user gives none (the client's address), if the framework has one. */
  readonly defaultKey?: (req: Req) => string;
  /** Why `key` is required with a keyed limiter, for adapters without a default key. */
  readonly keyHint?: string;
  /** Option names of the adapter besides the common ones. */
  readonly extraKeys: readonly string[];
}

type Maybe<T> = T | Promise<T>;

const DEFAULT_MAX_WAITING = 100;
const DEFAULT_MAX_WAITING_TOTAL = 10_000;

/** One limited route (or app): the checked options and the decision of each request. */
export class RequestLimiter<Req> {
  readonly #keyed: boolean;
  readonly #limiter: HttpLimiter;
  readonly #key: ((req: Req) => Maybe<string>) | undefined;
  readonly #cost: RequestCost<Req>;
  readonly #skip: ((req: Req) => Maybe<boolean>) | undefined;
  readonly #maxWait: number;
  readonly #maxWaiting: number;
  readonly #maxWaitingTotal: number;
  readonly #write: HeaderWriter;
  readonly #legacy: boolean;
  readonly #waitingByKey = new Map<string, number>();
  #waitingTotal = 0;

  constructor(options: unknown, spec: AdapterSpec<Req>) {
    const where = spec.name;
    if (options === undefined) throw new TypeError(`${where} needs options: { limiter }`);
    const o = check.options<RateLimitCommonOptions<Req>>(`${where} options`, options);
    check.knownKeys(`${where} options`, o, [...COMMON_KEYS, ...spec.extraKeys]);
    const limiter = o.limiter;
    const kind = kindOf(limiter);
    if (limiter === undefined) throw new TypeError(`${where}: limiter is required (a KeyedTokenBucket, RedisKeyedTokenBucket or any bucket of this library)`);
    if (kind === undefined) {
      throw new TypeError(`${where}: limiter must be a bucket of this library (a KeyedTokenBucket or RedisKeyedTokenBucket for a budget per client, or any single bucket for one shared budget), got ${check.show(limiter)}`);
    }
    if (typeof (limiter as Partial<HttpLimiter>).take !== 'function') {
      throw new TypeError(`${where}: limiter has no take() method: this bucket kind cannot answer HTTP requests yet`);
    }
    this.#keyed = kind === 'keyed';
    this.#limiter = limiter;
    this.#maxWait = o.maxWait === undefined ? 0 : check.duration(`${where}: maxWait`, o.maxWait);
    this.#maxWaiting = count(`${where}: maxWaiting`, o.maxWaiting, DEFAULT_MAX_WAITING);
    this.#maxWaitingTotal = count(`${where}: maxWaitingTotal`, o.maxWaitingTotal, DEFAULT_MAX_WAITING_TOTAL);
    if (this.#maxWait > 0 && typeof (limiter as Partial<HttpLimiter>).acquire !== 'function') {
      throw new TypeError(`${where}: maxWait needs a limiter with acquire()`);
    }
    this.#key = o.key === undefined ? spec.defaultKey : fn(`${where}: key`, o.key);
    if (this.#keyed && this.#key === undefined) {
      throw new TypeError(`${where}: key is required with a keyed limiter: ${spec.keyHint ?? 'pass key: (req) => string'}`);
    }
    this.#cost = checkCost(`${where}: cost`, o.cost, limiter.capacity);
    this.#skip = o.skip === undefined ? undefined : fn(`${where}: skip`, o.skip);
    const names = o.policyNames ?? hierarchyNames(limiter);
    // Keyed and single buckets list their limits: a name list of another length is a mistake
    // found now (a hierarchy's count shows only in its decisions, where a mismatch falls back).
    const limits = (limiter as { limits?: unknown }).limits;
    if (Array.isArray(o.policyNames) && Array.isArray(limits) && limits.length > 0 && o.policyNames.length !== limits.length) {
      throw new TypeError(`${where}: policyNames has ${o.policyNames.length} name(s) but the limiter has ${limits.length} limit(s): one name per limit`);
    }
    this.#write = headerWriter(o.headers, names, `${where}: headers`);
    this.#legacy = o.headers === 'legacy';
  }

  /**
   * Decides one request. `routeCost` overrides the `cost` option (a per-route setting);
   * `disconnect` is called only if the request waits. Throws (or rejects) with errors of the
   * user's functions and of the limiter, for the framework's error handling.
   */
  decide(req: Req, routeCost: RequestCost<Req> | undefined, disconnect: () => Disconnect): Maybe<Outcome> {
    const skip = this.#skip;
    if (skip !== undefined) {
      const skipped = skip(req);
      if (isPromise(skipped)) return skipped.then((s) => (s ? SKIPPED : this.#charge(req, routeCost, disconnect)));
      if (skipped) return SKIPPED;
    }
    return this.#charge(req, routeCost, disconnect);
  }

  /** Writes the headers of `decision` (rate-limit fields per the `headers` option, `Retry-After` on a refusal). */
  writeHeaders(decision: Decision, sink: HeaderSink): void {
    this.#write(decision, this.#legacy ? Date.now() : 0, sink);
  }

  #charge(req: Req, routeCost: RequestCost<Req> | undefined, disconnect: () => Disconnect): Maybe<Outcome> {
    const cost = routeCost ?? this.#cost;
    const n = typeof cost === 'number' ? cost : cost(req);
    if (isPromise(n)) return n.then((m) => this.#keyThenTake(req, checkRequestCost(m), disconnect));
    return this.#keyThenTake(req, typeof cost === 'number' ? n : checkRequestCost(n), disconnect);
  }

  #keyThenTake(req: Req, n: number, disconnect: () => Disconnect): Maybe<Outcome> {
    if (!this.#keyed) return this.#take(req, undefined, n, disconnect);
    const key = this.#keyOf(req);
    if (isPromise(key)) return key.then((k) => this.#take(req, k, n, disconnect));
    return this.#take(req, key, n, disconnect);
  }

  #keyOf(req: Req): Maybe<string> {
    const key = this.#key!(req);
    if (isPromise(key)) return key.then((k) => this.#checkKey(k));
    return this.#checkKey(key);
  }

  #checkKey(key: unknown): string {
    if (typeof key !== 'string') throw new TypeError(`key(req) must return a string (or a promise of one), got ${check.show(key)}`);
    return capKey(key);
  }

  #take(req: Req, key: string | undefined, n: number, disconnect: () => Disconnect): Maybe<Outcome> {
    const decision = this.#ask(key, n);
    if (isPromise(decision)) return decision.then((d) => this.#judge(req, key, n, d, disconnect));
    return this.#judge(req, key, n, decision, disconnect);
  }

  #ask(key: string | undefined, n: number): Maybe<Decision> {
    return this.#keyed ? (this.#limiter as KeyedLimiter).take(key!, n) : (this.#limiter as SingleLimiter).take(n);
  }

  #judge(req: Req, key: string | undefined, n: number, decision: Decision, disconnect: () => Disconnect): Maybe<Outcome> {
    if (decision.allowed) return { allowed: true, decision };
    // Refused, and either no waiting is allowed or this request would wait too long (or forever).
    if (!(decision.retryAfter <= this.#maxWait) || this.#maxWait === 0) return { allowed: false, decision };
    // A single bucket has no key of its own: the per-client waiting cap uses the client's key if
    // there is one (the address on Express and Fastify, or the user's key function).
    if (this.#keyed || this.#key === undefined) return this.#wait(key, key, n, decision, disconnect);
    const waitKey = this.#keyOf(req);
    if (isPromise(waitKey)) return waitKey.then((k) => this.#wait(undefined, k, n, decision, disconnect));
    return this.#wait(undefined, waitKey, n, decision, disconnect);
  }

  /** Queues the request for its tokens (within the waiting caps) and answers once served, refused or gone. */
  #wait(key: string | undefined, waitKey: string | undefined, n: number, refused: Decision, disconnect: () => Disconnect): Maybe<Outcome> {
    const mine = waitKey === undefined ? 0 : (this.#waitingByKey.get(waitKey) ?? 0);
    if (this.#waitingTotal >= this.#maxWaitingTotal || mine >= this.#maxWaiting) return { allowed: false, decision: refused };
    this.#waitingTotal++;
    if (waitKey !== undefined) this.#waitingByKey.set(waitKey, mine + 1);
    let watch: Disconnect;
    let acquired: Promise<void>;
    try {
      watch = disconnect();
      const options = { maxWait: this.#maxWait, signal: watch.signal };
      acquired = this.#keyed ? (this.#limiter as KeyedLimiter).acquire(key!, n, options) : (this.#limiter as SingleLimiter).acquire(n, options);
    } catch (error) {
      this.#leave(waitKey);
      throw error;
    }
    return acquired.then(
      () => {
        this.#leave(waitKey);
        watch.release();
        // The tokens are taken: a failing look at the levels must not fail the request.
        return this.#view(key, { ...refused, allowed: true, retryAfter: 0 }).then((d) => ({ allowed: true, decision: { ...d, allowed: true, retryAfter: 0 } }));
      },
      (error: unknown) => {
        this.#leave(waitKey);
        watch.release();
        if (watch.signal.aborted) return GONE;
        if (!(error instanceof RateLimitExceeded)) throw error;
        return this.#view(key, refused).then((d) => ({ allowed: false, decision: { ...d, allowed: false, retryAfter: error.retryAfter } }));
      },
    );
  }

  /** The levels now, as a decision of taking nothing; `fallback` if the limiter cannot say. */
  #view(key: string | undefined, fallback: Decision): Promise<Decision> {
    return new Promise<Decision>((resolve) => resolve(this.#ask(key, 0))).catch(() => fallback);
  }

  #leave(waitKey: string | undefined): void {
    this.#waitingTotal--;
    if (waitKey === undefined) return;
    const left = this.#waitingByKey.get(waitKey)! - 1;
    if (left === 0) this.#waitingByKey.delete(waitKey);
    else this.#waitingByKey.set(waitKey, left);
  }
}

/** True for a promise (any thenable): the answer is not there yet. */
export function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function fn<F>(name: string, value: F): F {
  if (typeof value !== 'function') throw new TypeError(`${name} must be a function, got ${check.show(value)}`);
  return value;
}

/** Checks a `cost` option (a per-app or per-route setting): a token count within the limiter's capacity, or a function. */
export function checkCost<Req>(name: string, value: unknown, capacity: number): RequestCost<Req> {
  if (value === undefined) return 1;
  if (typeof value === 'function') return value as RequestCost<Req>;
  const n = check.tokens(value, name);
  if (n > capacity) throw new RangeError(`${name} must be at most the limiter's capacity (${capacity}), got ${n}: such a request could never pass`);
  return n;
}

/** The result of a `cost` function: a finite number >= 0 (above capacity is a refusal, as take() makes it). */
function checkRequestCost(value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0) || value === Infinity) {
    throw new TypeError(`cost(req) must return a finite number >= 0 (or a promise of one), got ${check.show(value)}`);
  }
  return value;
}

/** An integer count >= 0 (or `Infinity`), `fallback` when not given. */
function count(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${check.show(value)}`);
  if (value !== Infinity && !(Number.isInteger(value) && value >= 0)) throw new RangeError(`${name} must be an integer >= 0 (or Infinity), got ${check.show(value)}`);
  return value;
}

/**
 * The names of a hierarchy's buckets, leaf to root (the order of a decision's limits), as
 * policy names; `undefined` unless every bucket of the chain has a distinct printable name.
 */
function hierarchyNames(limiter: unknown): readonly string[] | undefined {
  if (typeof limiter !== 'object' || limiter === null || !('parent' in limiter)) return undefined;
  const names: string[] = [];
  for (let b: unknown = limiter; b !== undefined; b = (b as { parent?: unknown }).parent) {
    const name = (b as { name?: unknown }).name;
    if (typeof name !== 'string' || !/^[\x20-\x7e]+$/.test(name) || names.includes(name)) return undefined;
    names.push(name);
  }
  return names;
}
