// The pure math every bucket shares: a level of tokens that grows at `perMs` tokens per
// millisecond up to `capacity`. Functions of (state, now) only: no clock reads, no I/O.

/**
 * Float slack for comparisons: 0.1 + 0.2 tokens must count as 0.3, and a wait of exactly
 * `timeUntil(n)` must be enough even when `n / rate * rate` rounds a hair below `n`.
 * One part in 10^9 of a token is far below anything a user can observe.
 */
export const EPSILON = 1e-9;

/** Level after refilling from `last` to `now`. Time that went backwards adds nothing. */
export function refill(level: number, last: number, now: number, capacity: number, perMs: number): number {
  if (now <= last || level >= capacity) return level > capacity ? capacity : level;
  const next = level + (now - last) * perMs;
  return next > capacity ? capacity : next;
}

/** True when `level` covers `n` tokens (within {@link EPSILON}). */
export function covers(level: number, n: number): boolean {
  return level + EPSILON >= n;
}

/** Milliseconds until `level` grows to `n` at `perMs`: 0 if it already covers it, `Infinity` if it never will. */
export function waitFor(level: number, n: number, perMs: number): number {
  if (level + EPSILON >= n) return 0;
  return perMs > 0 ? (n - level) / perMs : Infinity;
}

/** Tokens per second to tokens per millisecond (what the refill math uses). */
export function perMillisecond(fillRate: number): number {
  return fillRate / 1000;
}
