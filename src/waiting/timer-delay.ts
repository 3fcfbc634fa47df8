/**
 * The longest delay a timer can hold: Node fires a `setTimeout` of more than 2^31-1 ms after 1 ms
 * instead (with a TimeoutOverflowWarning), so longer waits are chained in steps of at most this.
 */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * The `setTimeout` delay for a wait of `ms`: whole milliseconds rounded up (a timer never fires
 * before the wait is over), at least 1, at most {@link MAX_TIMER_DELAY} (the callback re-checks and
 * re-arms, so a capped timer is just an early wake).
 */
export function timerDelay(ms: number): number {
  return Math.min(MAX_TIMER_DELAY, Math.max(1, Math.ceil(ms)));
}
