// Waiters of Redis buckets sleeping until their reserved tokens are earned. One timer for all of
// them (a min-heap on wake time), however many wait: 10,000 waiters are not 10,000 timers.

import { TimeHeap } from '../waiting/time-heap.js';
import { timerDelay } from '../waiting/timer-delay.js';

/** One sleeping waiter; `until` is `performance.now()` time. */
export interface Sleeper {
  readonly key: string;
  until: number;
  wake: (() => void) | undefined; // undefined once woken or cancelled
}

interface KeySleepers {
  readonly sleepers: Set<Sleeper>;
  /** Wake time of the latest sleeper added: later ones never wake before it (FIFO per key). */
  last: number;
}

export class Sleepers {
  /** Each sleeper at its wake time; a sleeper moved earlier leaves a stale entry behind. */
  #heap = new TimeHeap<Sleeper>();
  #byKey = new Map<string, KeySleepers>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #live = 0;
  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#run();
  };

  /** Calls `wake` once `ms` have passed (by this process's clock), unless cancelled first. */
  add(key: string, ms: number, wake: () => void): Sleeper {
    let k = this.#byKey.get(key);
    if (k === undefined) this.#byKey.set(key, (k = { sleepers: new Set(), last: -Infinity }));
    // A reply's wait is exact in server time, but replies read in one batch share a local receipt
    // time, so a later waiter's wake could fall a fraction of a millisecond before an earlier one's.
    const s: Sleeper = { key, until: Math.max(performance.now() + ms, k.last), wake };
    k.last = s.until;
    k.sleepers.add(s);
    this.#live++;
    this.#heap.push(s.until, s);
    this.#arm();
    return s;
  }

  /** The keys whose waiters sleep now. */
  keys(): MapIterator<string> {
    return this.#byKey.keys();
  }

  /** Whether waiters of `key` sleep now. */
  has(key: string): boolean {
    return this.#byKey.has(key);
  }

  cancel(s: Sleeper): void {
    if (s.wake === undefined) return;
    s.wake = undefined;
    this.#forget(s); // its heap entry is skipped when it comes up
    this.#arm();
  }

  /** Wakes every sleeper of `key` no later than `ms` from now (their tokens are earned by then). */
  shorten(key: string, ms: number): void {
    const k = this.#byKey.get(key);
    if (k === undefined) return;
    const until = performance.now() + ms;
    for (const s of k.sleepers) {
      if (s.until > until) {
        s.until = until;
        this.#heap.push(until, s); // the older, later entry goes stale
      }
    }
    if (k.last > until) k.last = until;
    this.#arm();
  }

  /**
   * The rates changed: every sleeper of a key now wakes `ratioOf(key)` times as far from now as it
   * did (see `slowdown` in the core: never before its tokens are earned; 1 leaves the key alone).
   */
  stretch(ratioOf: (key: string) => number): void {
    const now = performance.now();
    for (const [key, k] of this.#byKey) {
      const ratio = ratioOf(key);
      if (ratio === 1) continue;
      let last = -Infinity;
      for (const s of k.sleepers) {
        if (s.until > now) {
          s.until = ratio === Infinity ? Infinity : now + (s.until - now) * ratio;
          this.#heap.push(s.until, s); // its older entry goes stale
        }
        if (s.until > last) last = s.until;
      }
      k.last = last;
    }
    this.#arm();
  }

  #run(): void {
    const now = performance.now();
    while (this.#heap.nextAt <= now) {
      const at = this.#heap.nextAt;
      const s = this.#heap.pop()!;
      if (s.wake === undefined || s.until !== at) continue; // cancelled, or moved earlier
      const wake = s.wake;
      s.wake = undefined;
      this.#forget(s);
      wake();
    }
    this.#arm();
  }

  // Re-checks when it fires, so a timer that fires early (or was capped) only re-arms: no waiter
  // wakes before its time by this process's clock.
  #arm(): void {
    if (this.#live === 0) this.#heap.clear(); // only stale entries left: they must not keep a timer (and the process) alive
    const at = this.#heap.nextAt;
    if (at === Infinity) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
      return;
    }
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const delay = timerDelay(at - performance.now());
    this.#timerAt = at;
    this.#timer = setTimeout(this.#fire, delay);
  }

  #forget(s: Sleeper): void {
    this.#live--;
    const k = this.#byKey.get(s.key);
    if (k !== undefined && k.sleepers.delete(s) && k.sleepers.size === 0) this.#byKey.delete(s.key);
  }
}
