// The pure math every bucket shares: a level of tokens that grows at `perMs` tokens per
// millisecond up to `capacity`. Functions of (state, now) only: no clock reads, no I/O.

/**
 * Float slack for comparisons: 0.1 + 0.2 tokens must count as 0.3, and a wait of exactly
 * `timeUntil(n)` must be enough even when `n / rate * rate` rounds a hair below `n`.
 * One part in 10^9 of a token is far below anything a user can observe.
 */
export const EPSILON = 1e-9;

/**
 * One to two units in the last place of a clock reading, relative to the reading. A clock at
 * epoch-millisecond values (1.7e12) steps in units of 2.4e-4 ms: `now + wait` is rounded to the
 * nearest step, so a wait ends up to half a step short, and a wait shorter than half a step rounds
 * back to `now` itself (a timer due "now" would find the same hair missing and re-arm for "now"
 * again, forever). Tokens earned within this span count as earned: the clock cannot tell such
 * times apart, and every wait is then long enough to reach.
 */
const CLOCK_STEP = 2 ** -52;

/** Level after refilling from `last` to `now`. Time that went backwards adds nothing. */
export function refill(level: number, last: number, now: number, capacity: number, perMs: number): number {
  if (now <= last || level >= capacity) return level > capacity ? capacity : level;
  const next = level + (now - last) * perMs;
  return next > capacity ? capacity : next;
}

/**
 * True when `level` covers `n` tokens: within {@link EPSILON}, or short by what is earned within
 * one step of the clock at `now` (see {@link CLOCK_STEP}). Exactly when {@link waitFor} is 0.
 */
export function covers(level: number, n: number, perMs: number, now: number): boolean {
  return level + EPSILON >= n || n - level <= perMs * (now < 0 ? -now : now) * CLOCK_STEP;
}

/**
 * Milliseconds until `level` grows to `n` at `perMs`: 0 if it already covers it (see
 * {@link covers}), `Infinity` if it never will. A wait it returns is longer than half a step of
 * the clock, so `now + wait` is a later clock reading than `now`, and once the clock reads it
 * (rounded as it may be) `n` is covered.
 */
export function waitFor(level: number, n: number, perMs: number, now: number): number {
  if (level + EPSILON >= n) return 0;
  if (!(perMs > 0)) return Infinity;
  const short = n - level;
  return short <= perMs * (now < 0 ? -now : now) * CLOCK_STEP ? 0 : short / perMs;
}

/** Tokens per second to tokens per millisecond (what the refill math uses). */
export function perMillisecond(fillRate: number): number {
  return fillRate / 1000;
}
