import * as check from './validate.js';
import { timerDelay } from './waiting/timer-delay.js';

/** A source of time in milliseconds. Must never go backwards; buckets ignore it if it does. */
export interface Clock {
  now(): number;
}

/** A timer a clock can run: `cancel` is idempotent. */
export interface ClockTimer {
  cancel(): void;
}

/**
 * Clocks that can run timers themselves (such as {@link ManualClock}) implement this hidden
 * method; waiting buckets use it instead of `setTimeout`, so tests drive waits with `advance()`.
 * @internal
 */
export const scheduleOn: unique symbol = Symbol.for('bucketflow.clock.schedule');

interface SchedulingClock extends Clock {
  [scheduleOn](delayMs: number, callback: () => void): ClockTimer;
}

let clockPerformance: typeof performance | undefined;
let clockForPerformance: Clock | undefined;

/**
 * The clock a bucket gets when none is given: `performance.now()`, monotonic, in milliseconds,
 * of the `performance` object current when the bucket is made. Node 20 resolves the global
 * `performance` through a getter on every access (a large share of a whole `consume()`);
 * holding the object skips it. One clock per `performance` object, so buckets made while fake
 * timers (vitest, sinon) replace it run on the fake clock.
 */
export function defaultClock(): Clock {
  const p = globalThis.performance;
  if (p !== clockPerformance || clockForPerformance === undefined) {
    clockPerformance = p;
    clockForPerformance = { now: () => p.now() };
  }
  return clockForPerformance;
}

/** The default clock as of when bucketflow loaded (see {@link defaultClock}). */
export const monotonicClock: Clock = defaultClock();

/**
 * Runs `callback` after `delayMs` of `clock` time. Real clocks use one `setTimeout`, capped at
 * 2^31-1 ms: the callback re-checks readiness and re-arms, so a capped timer is just an early wake.
 */
export function schedule(clock: Clock, delayMs: number, callback: () => void): ClockTimer {
  const own = (clock as Partial<SchedulingClock>)[scheduleOn];
  if (typeof own === 'function') return own.call(clock, delayMs, callback);
  const handle = setTimeout(callback, timerDelay(delayMs));
  return { cancel: () => clearTimeout(handle) };
}

/** True for clocks whose time only moves when told to: a thread that sleeps would wait forever. */
export function isManual(clock: Clock): boolean {
  return typeof (clock as Partial<SchedulingClock>)[scheduleOn] === 'function';
}

interface PendingTimer {
  at: number;
  seq: number;
  callback: (() => void) | undefined;
}

/**
 * A clock that moves only when {@link ManualClock.advance} is called. Buckets waiting on it
 * (`acquire`, async `consume` with `block`) are woken by `advance()`, so tests need no real time.
 */
export class ManualClock implements Clock {
  #now: number;
  #timers: PendingTimer[] = [];
  #seq = 0;

  /** @param start the initial time in milliseconds (default 0). */
  constructor(start = 0) {
    this.#now = check.nonNegative('start', start);
  }

  now(): number {
    return this.#now;
  }

  /** Moves time forward by `ms` (>= 0) and runs every timer that falls due, in time order. */
  advance(ms: number): void {
    this.#now += check.duration('ms', ms) === Infinity ? rangeInfinity() : ms;
    for (;;) {
      let next: PendingTimer | undefined;
      for (const t of this.#timers) {
        if (t.at <= this.#now && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      }
      if (next === undefined) return;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      const callback = next.callback;
      next.callback = undefined;
      callback?.();
    }
  }

  /** @internal */
  [scheduleOn](delayMs: number, callback: () => void): ClockTimer {
    const timer: PendingTimer = { at: this.#now + Math.max(0, delayMs), seq: this.#seq++, callback };
    this.#timers.push(timer);
    return {
      cancel: () => {
        const i = this.#timers.indexOf(timer);
        if (i >= 0) this.#timers.splice(i, 1);
        timer.callback = undefined;
      },
    };
  }
}

function rangeInfinity(): never {
  throw new RangeError('ms must be a finite number of milliseconds >= 0, got Infinity');
}

/** Checks a `clock` option, and that it reads as a number: a NaN clock would never refill. */
export function checkClock(name: string, value: unknown): Clock {
  if (value === undefined) return defaultClock();
  if (typeof value !== 'object' || value === null || typeof (value as Clock).now !== 'function') {
    throw new TypeError(`${name} must be an object with a now() method returning milliseconds`);
  }
  const reading: unknown = (value as Clock).now();
  if (typeof reading !== 'number' || !Number.isFinite(reading)) {
    throw new TypeError(`${name}.now() must return a finite number of milliseconds, got ${
      typeof reading === 'number' ? String(reading) : typeof reading}`);
  }
  return value as Clock;
}
