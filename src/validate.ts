// Option checking shared by every bucket kind. Messages name the option and the value so a
// user can act on them ("capacity must be a finite number > 0, got -1").

import { neverFits } from './errors.js';
import type { AcquireOptions, ConsumeOptions, Limit, LimitsFor } from './types.js';

/** A value as an error message shows it (strings quoted, BigInts with their n, objects by kind). */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function number(name: string, value: unknown): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${show(value)}`);
  return value;
}

/** A finite number > 0. */
export function positive(name: string, value: unknown): number {
  const v = number(name, value);
  if (!(v > 0) || v === Infinity) throw new RangeError(`${name} must be a finite number > 0, got ${show(v)}`);
  return v;
}

/** A finite number >= 0. */
export function nonNegative(name: string, value: unknown): number {
  const v = number(name, value);
  if (!(v >= 0) || v === Infinity) throw new RangeError(`${name} must be a finite number >= 0, got ${show(v)}`);
  return v;
}

/** A number >= 0, `Infinity` allowed (durations such as `maxWait`). */
export function duration(name: string, value: unknown): number {
  const v = number(name, value);
  if (!(v >= 0)) throw new RangeError(`${name} must be a number of milliseconds >= 0, got ${show(v)}`);
  return v;
}

/** The `maxWaiting` option: an integer >= 0, or `Infinity` (the default: unbounded). */
export function maxWaiting(value: unknown): number {
  if (value === undefined) return Infinity;
  const v = number('maxWaiting', value);
  if (v !== Infinity && !(Number.isSafeInteger(v) && v >= 0)) throw new RangeError(`maxWaiting must be an integer >= 0 (or Infinity), got ${show(v)}`);
  return v;
}

/** An options object (or `undefined`, meaning all defaults). */
export function options<T extends object>(name: string, value: unknown): Partial<T> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${name} must be an options object, got ${show(value)}`);
  }
  return value as Partial<T>;
}

/**
 * The options object a constructor needs (`undefined` is a `TypeError` saying what is needed),
 * holding only `allowed` keys.
 */
export function required<T extends object>(value: unknown, allowed: readonly string[], needed: string): Partial<T> {
  if (value === undefined) throw new TypeError(`options are required: ${needed}`);
  const o = options<T>('options', value);
  knownKeys('options', o, allowed);
  return o;
}

/** Rejects keys the caller did not mean (a typo such as `fill_rate` would otherwise be ignored). */
export function knownKeys(name: string, value: object, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new TypeError(`${name} has an unknown option ${JSON.stringify(key)} (expected one of: ${allowed.join(', ')})`);
    }
  }
}

export function boolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${show(value)}`);
  return value;
}

export function abortSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || typeof (value as AbortSignal).aborted !== 'boolean'
    || typeof (value as AbortSignal).addEventListener !== 'function') {
    throw new TypeError(`${name} must be an AbortSignal, got ${show(value)}`);
  }
  return value as AbortSignal;
}

/** The common shape of `capacity`, `fillRate`, `initialTokens`, checked together. */
export interface LimitShape {
  capacity: number;
  fillRate: number;
  initialTokens: number;
}

export function limit(where: string, opts: { capacity?: unknown; fillRate?: unknown; initialTokens?: unknown }): LimitShape {
  const prefix = where ? `${where}: ` : '';
  if (opts.capacity === undefined) throw new TypeError(`${prefix}capacity is required (a finite number > 0)`);
  if (opts.fillRate === undefined) throw new TypeError(`${prefix}fillRate is required (tokens per second, a finite number >= 0)`);
  const capacity = positive(`${prefix}capacity`, opts.capacity);
  const fillRate = nonNegative(`${prefix}fillRate`, opts.fillRate);
  const initialTokens = opts.initialTokens === undefined ? capacity : nonNegative(`${prefix}initialTokens`, opts.initialTokens);
  if (initialTokens > capacity) {
    throw new RangeError(`${prefix}initialTokens must be <= capacity (${capacity}), got ${initialTokens}`);
  }
  return { capacity, fillRate, initialTokens };
}

/** A token count for one request: a finite number >= 0. */
export function tokens(value: unknown, name = 'n'): number {
  return nonNegative(name, value);
}

const LIMIT_KEYS = ['capacity', 'fillRate', 'initialTokens'] as const;

/** Reads the one inline limit or the `limits` list of bucket options. */
export function limitsOf(o: Partial<Limit> & { limits?: unknown }): LimitShape[] {
  if (o.limits === undefined) return [limit('', o)];
  if (o.capacity !== undefined || o.fillRate !== undefined || o.initialTokens !== undefined) {
    throw new TypeError('pass either limits or capacity/fillRate/initialTokens, not both');
  }
  if (!Array.isArray(o.limits) || o.limits.length === 0) {
    throw new TypeError('limits must be a non-empty array of { capacity, fillRate, initialTokens? }');
  }
  return o.limits.map((entry: unknown, i: number) => {
    const l = options<Limit>(`limits[${i}]`, entry);
    if (entry === undefined) throw new TypeError(`limits[${i}] must be an object { capacity, fillRate }`);
    knownKeys(`limits[${i}]`, l, LIMIT_KEYS);
    return limit(`limits[${i}]`, l);
  });
}

const UPDATE_KEYS = ['capacity', 'fillRate', 'initialTokens', 'limits'] as const;

/** Checks the argument of `setLimits`: one inline limit or a `limits` list, nothing else. */
export function limitsUpdate(value: unknown): LimitShape[] {
  return limitsOf(required<Limit & { limits?: unknown }>(value, UPDATE_KEYS, '{ capacity, fillRate } or { limits }'));
}

const ACQUIRE_KEYS = ['maxWait', 'signal'] as const;

/**
 * Checks a waiting request (`acquire(n, options)`) on a bucket that holds at most `capacity`:
 * `n` above it can never be served (`RangeError`). Returns `maxWait` and `signal`.
 */
export function acquireRequest(n: unknown, value: unknown, capacity: number, what?: string): { maxWait: number; signal: AbortSignal | undefined } {
  tokens(n);
  const o = value === undefined ? NO_OPTIONS : acquireOptions(value);
  if ((n as number) > capacity) throw neverFits(n as number, capacity, what);
  return o;
}

const NO_OPTIONS = { maxWait: Infinity, signal: undefined } as const;

/** Checks the options of a waiting form (`acquire`); returns `maxWait` (default `Infinity`) and `signal`. */
export function acquireOptions(value: unknown): { maxWait: number; signal: AbortSignal | undefined } {
  const o = options<AcquireOptions>('options', value);
  knownKeys('options', o, ACQUIRE_KEYS);
  return {
    maxWait: o.maxWait === undefined ? Infinity : duration('maxWait', o.maxWait),
    signal: abortSignal('signal', o.signal),
  };
}

/** Validates the synchronous consume arguments; returns `block` and `maxWait`. */
export function consumeOptions(value: unknown): { block: boolean; maxWait: number } {
  const o = options<ConsumeOptions>('options', value);
  knownKeys('options', o, ['block', 'maxWait']);
  return {
    block: boolean('block', o.block, false),
    maxWait: o.maxWait === undefined ? Infinity : duration('maxWait', o.maxWait),
  };
}

/** Checks the `limitsFor` option of a keyed kind (given in place of the inline limits). */
export function limitsForOption(o: { limitsFor?: unknown; capacity?: unknown; fillRate?: unknown; initialTokens?: unknown; limits?: unknown }): LimitsFor {
  if (typeof o.limitsFor !== 'function') throw new TypeError(`limitsFor must be a function (key) => Limit | Limit[], got ${show(o.limitsFor)}`);
  if (o.capacity !== undefined || o.fillRate !== undefined || o.initialTokens !== undefined || o.limits !== undefined) {
    throw new TypeError('pass either limitsFor or capacity/fillRate/initialTokens/limits, not both');
  }
  return o.limitsFor as LimitsFor;
}

/** What `limitsFor(key)` returned, checked: the error names the key. */
export function tierLimits(key: string, value: unknown): LimitShape[] {
  const where = `limitsFor(${JSON.stringify(key)})`;
  if (Array.isArray(value)) {
    try {
      return limitsOf({ limits: value });
    } catch (error) {
      throw new TypeError(`${where} returned bad limits: ${(error as Error).message}`);
    }
  }
  if (typeof value !== 'object' || value === null) throw new TypeError(`${where} must return a Limit { capacity, fillRate } or an array of them, got ${show(value)}`);
  return [limit(where, value as Partial<Limit>)];
}
