// take(n): the non-waiting decision every kind makes (the core's reserve with no wait), told in
// full: what each limit of the chain holds after it and how long until it is full again.

import type { Decision, LimitDecision } from '../types.js';
import { advance, reserve, type Limits } from './limits.js';

/** A limit as configured: what a decision reports beside its level. */
export type LimitConfig = Readonly<{ capacity: number; fillRate: number }>;

/**
 * Takes `n` tokens from every limit of the chain if they are all there at `now` (`n` within
 * `capacity`, the chain's smallest), else nothing, and tells the levels after it. `config` lists
 * the chain's limits as configured, in the layout's order.
 */
export function decide<S>(limits: Limits<S>, s: S, n: number, capacity: number, now: number, config: readonly LimitConfig[]): Decision {
  // A take of 0 always passes (as consume(0)), even while waiters' debts hold a level below 0;
  // more than a capacity never does.
  if (n === 0 || n > capacity) {
    advance(limits, s, now);
    return describe(limits, s, n === 0, n === 0 ? 0 : Infinity, config);
  }
  const wait = reserve(limits, s, n, 0, now);
  return describe(limits, s, wait === 0, wait, config);
}

/** The decision `allowed` (with `retryAfter` ms) on a chain, from its levels as now stored. */
export function describe<S>(limits: Limits<S>, s: S, allowed: boolean, retryAfter: number, config: readonly LimitConfig[]): Decision {
  let remaining = Infinity;
  let resetAfter = 0;
  const parts: LimitDecision[] = [];
  for (let i = 0, count = limits.count(s); i < count; i++) {
    const part = limitDecision(config[i]!, limits.level(s, i));
    parts.push(part);
    if (part.remaining < remaining) remaining = part.remaining;
    if (part.resetAfter > resetAfter) resetAfter = part.resetAfter;
  }
  return { allowed, remaining, retryAfter, resetAfter, limits: parts };
}

/**
 * One limit's part of a decision from its level. The time to full is worked out from the rate in
 * tokens per second (not per ms), so round figures stay round: 4 tokens at 0.01/s is 400000 ms.
 */
export function limitDecision(limit: LimitConfig, level: number): LimitDecision {
  const { capacity, fillRate } = limit;
  const resetAfter = level >= capacity ? 0 : fillRate > 0 ? ((capacity - level) * 1000) / fillRate : Infinity;
  return { capacity, fillRate, remaining: level > 0 ? level : 0, resetAfter };
}

/**
 * A decision made without the levels (a Redis failure answered by policy, a keyed limiter with no
 * room for the key): every limit reads 0 remaining, full again after `retryAfter`.
 */
export function blindDecision(allowed: boolean, retryAfter: number, config: readonly LimitConfig[]): Decision {
  return {
    allowed,
    remaining: 0,
    retryAfter,
    resetAfter: retryAfter,
    limits: config.map((l) => ({ capacity: l.capacity, fillRate: l.fillRate, remaining: 0, resetAfter: retryAfter })),
  };
}
