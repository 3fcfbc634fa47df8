// The decision every bucket kind makes, written once: a chain of limits (the limits of one bucket,
// a hierarchy's levels from leaf to root, one key's limits, a buffer shared by threads) advanced to
// `now`, then `n` tokens reserved on all of them or on none. As in Go's x/time/rate, a waiter's
// tokens are taken when it queues: the levels go below 0 by what is owed, time pays the debt back,
// and every later request sees it, so nobody can overtake a waiter. Functions of (state, now) only:
// the state lives wherever the bucket keeps it (fields, a slot of a typed array, a shared buffer),
// and a `Limits` layout, one per kind of storage, reads and writes it there.

import { covers, refill, waitFor } from './refill.js';

/**
 * How a kind of storage holds a chain of limits: `S` is one chain's state (a bucket, a key's slot,
 * a hierarchy's chain). One layout serves every chain of its kind, so a chain costs no extra object.
 * The core visits a chain's limits in order, 0 first: a layout that keeps one refill time for all
 * its limits stores it with the last one.
 */
export interface Limits<S> {
  /** How many limits the chain has. */
  count(s: S): number;
  /** Most tokens limit `i` holds. */
  capacity(s: S, i: number): number;
  /** Refill rate of limit `i`, in tokens per millisecond. */
  perMs(s: S, i: number): number;
  /** Tokens of limit `i` as of {@link Limits.last} (below 0 by what is owed to waiters). */
  level(s: S, i: number): number;
  /** Clock time of limit `i`'s last refill. */
  last(s: S, i: number): number;
  /** Stores limit `i`'s level as of clock time `last`. */
  set(s: S, i: number, level: number, last: number): void;
}

/** Refills every limit to `now`. A clock reading earlier than a limit's last refill adds nothing. */
export function advance<S>(limits: Limits<S>, s: S, now: number): void {
  for (let i = 0, count = limits.count(s); i < count; i++) {
    const last = limits.last(s, i);
    if (now > last) limits.set(s, i, refill(limits.level(s, i), last, now, limits.capacity(s, i), limits.perMs(s, i)), now);
  }
}

/**
 * Milliseconds until every limit, plus `extra` tokens, covers `n` (0 if all do now; `Infinity` if
 * one never will), as of the levels now stored: {@link advance} first.
 */
export function waitAll<S>(limits: Limits<S>, s: S, n: number, now: number, extra = 0): number {
  let wait = 0;
  for (let i = 0, count = limits.count(s); i < count; i++) {
    const w = waitFor(limits.level(s, i) + extra, n, limits.perMs(s, i), now);
    if (w > wait) wait = w;
  }
  return wait;
}

/** Whether every limit covers `n` now, as of the levels now stored: {@link advance} first. */
export function coversAll<S>(limits: Limits<S>, s: S, n: number, now: number): boolean {
  for (let i = 0, count = limits.count(s); i < count; i++) if (!covers(limits.level(s, i), n, limits.perMs(s, i), now)) return false;
  return true;
}

/** Adds `delta` tokens to every limit (negative to take or reserve), never above a capacity. */
export function addAll<S>(limits: Limits<S>, s: S, delta: number): void {
  for (let i = 0, count = limits.count(s); i < count; i++) {
    const level = limits.level(s, i) + delta;
    const capacity = limits.capacity(s, i);
    limits.set(s, i, level > capacity ? capacity : level, limits.last(s, i));
  }
}

/** The lowest level of the chain, as now stored. */
export function lowest<S>(limits: Limits<S>, s: S): number {
  let low = Infinity;
  for (let i = 0, count = limits.count(s); i < count; i++) if (limits.level(s, i) < low) low = limits.level(s, i);
  return low;
}

/**
 * Advances to `now`, then reserves `n` tokens on every limit if they are all there within
 * `maxWait` ms: taken now (returns 0) or owed after the returned wait (the levels go below 0).
 * Otherwise changes nothing and returns the wait it would need (`> maxWait`, or `Infinity` if the
 * chain never refills enough). All or nothing, over the whole chain.
 */
export function reserve<S>(limits: Limits<S>, s: S, n: number, maxWait: number, now: number): number {
  advance(limits, s, now);
  const wait = waitAll(limits, s, n, now);
  if (wait === 0 || (wait !== Infinity && wait <= maxWait)) addAll(limits, s, -n);
  return wait;
}

/**
 * How long the head of a queue of waiters still waits: it reserved `n` tokens, earned at clock
 * time `at` (`Infinity` where only the levels tell), and its queue holds `owed` tokens of
 * reservations (its own included). 0 once `at` has come, or once every level plus `owed` covers `n`: the reservations behind it are
 * all later than it, so that is what the levels would hold without them (a waiter ahead that gave
 * its reservation back brings the head forward). Reservations of other queues on shared levels
 * are not counted back, so this never serves a waiter before its tokens are earned.
 */
export function headWait<S>(limits: Limits<S>, s: S, n: number, at: number, now: number, owed: number): number {
  if (at <= now) return 0;
  advance(limits, s, now);
  const wait = waitAll(limits, s, n, now, owed);
  return wait < at - now ? wait : at - now;
}

/**
 * Gives `n` tokens back to every limit (a waiter that gave up, a reward), refilled to `now`
 * first, never above a capacity; a negative `n` takes them, even below 0 (a penalty).
 */
export function refund<S>(limits: Limits<S>, s: S, n: number, now: number): void {
  advance(limits, s, now);
  addAll(limits, s, n);
}

/**
 * How much longer debts take to pay back when rates change from `before` to `after` (tokens per
 * ms, limit by limit): the largest `before / after` over the limits that earned anything
 * (`Infinity` if one of them stops). A ready time `d` ms away is at most `d` times this away after
 * the change, since each limit's debt is at most what `d` ms used to earn.
 */
export function slowdown(before: readonly number[], after: readonly number[]): number {
  let ratio = 0;
  for (let i = 0; i < before.length && i < after.length; i++) {
    if (before[i]! === 0) continue;
    const r = after[i]! === 0 ? Infinity : before[i]! / after[i]!;
    if (r > ratio) ratio = r;
  }
  return ratio;
}

/** A ready time after {@link slowdown}: times that have come stay, later ones stretch (or shrink) by `ratio`. */
export function stretch(at: number, now: number, ratio: number): number {
  if (at <= now || at === Infinity) return at;
  return ratio === Infinity ? Infinity : now + (at - now) * ratio;
}
