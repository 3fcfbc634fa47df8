import { offAbort, onAbort } from './abort.js';
import { markKind } from './kinds.js';
import { lockFields } from './readonly.js';
import { isManual, schedule, type Clock, type ClockTimer } from './clock.js';
import { perMillisecond, refill, waitFor } from './core/refill.js';
import { RateLimitExceeded } from './errors.js';
import { sleepSync } from './sleep.js';
import * as check from './validate.js';
import { checkClock } from './clock.js';
import { manualClockSleep, neverFits } from './errors.js';
import type { AcquirableBucket, AcquireOptions, ConsumeOptions, Limit, TokenBucketOptions } from './types.js';

// Layout of the shared buffer. Int32 words: [0] lock (0 free, 1 held, 2 held with sleepers),
// [1] a tag telling a bucket buffer from any other, [2] the number of limits. From byte 16, Float64:
// the time of the last refill, then per limit its capacity, fillRate, initialTokens and level.
const LOCK = 0;
const TAG = 1;
const COUNT = 2;
const TAG_VALUE = 0x62666c31; // "bfl1": bumped if the layout ever changes
const LAST = 2; // Float64 index (byte 16)
const FIRST_LIMIT = 3;
const PER_LIMIT = 4;
const CAPACITY = 0;
const FILL_RATE = 1;
const INITIAL = 2;
const LEVEL = 3;
// A critical section is a few float operations: spinning briefly beats parking the thread.
const SPINS = 64;

/**
 * The clock every thread of the process agrees on: `performance.now()` counts from a time origin
 * of its own thread (a worker's starts when the worker does), so each thread adds the offset
 * between its `performance.now()` and `process.hrtime` (CLOCK_MONOTONIC, one timeline for the
 * whole machine), measured once per thread. Milliseconds, monotonic.
 */
let offset: number | undefined;
export const threadSharedClock: Clock = {
  now(): number {
    offset ??= measureOffset();
    return performance.now() + offset;
  },
};

/**
 * `process.hrtime` minus `performance.now()`, with hrtime read between two `performance.now()`
 * calls; of several tries the tightest pair wins. One try alone is off by as long as the thread
 * was descheduled between its reads, and threads whose clocks disagree by 0.2 ms admit 0.4 token
 * more than a rate of 2,000/s allows; the tightest of 16 is off by well under a microsecond.
 */
function measureOffset(): number {
  let tightest = Infinity;
  let result = 0;
  for (let i = 0; i < 16; i++) {
    const before = performance.now();
    const hr = Number(process.hrtime.bigint()) / 1e6;
    const after = performance.now();
    if (after - before < tightest) {
      tightest = after - before;
      result = hr - (before + after) / 2;
    }
  }
  return result;
}

/** Options of {@link SharedTokenBucket}: those of `TokenBucket` (one limit or several). */
export type SharedTokenBucketOptions = TokenBucketOptions;

/** Options of {@link SharedTokenBucket.from}. */
export interface SharedTokenBucketAttachOptions {
  /**
   * Time source; must be on the same timeline in every thread sharing the bucket. Default:
   * {@link threadSharedClock}. Inject one only when every user of the buffer is in this thread.
   */
  clock?: Clock;
}

interface Waiter {
  readonly n: number;
  /** Clock time at which its reserved tokens are earned. */
  readonly at: number;
  resolve: (() => void) | undefined; // undefined once settled
  readonly reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

let attaching: SharedArrayBuffer | undefined;

/**
 * A token bucket whose state lives in a `SharedArrayBuffer`, so several `worker_threads` use one
 * bucket at once: create it in one thread, post `bucket.handle` to the others, and attach there
 * with {@link SharedTokenBucket.from}. Every operation runs under a lock made of `Atomics`, so
 * threads together never get more than `capacity + fillRate × elapsed` — the guarantee of one
 * thread.
 *
 * Waiting requests reserve their tokens in the shared level (it goes below 0 by what is owed),
 * so across threads they are served in the order they reserved, each at the time its tokens are
 * earned; each thread has one timer for its own waiters.
 */
export class SharedTokenBucket implements AcquirableBucket {
  /** Most tokens the bucket holds; with several limits, the smallest capacity. */
  readonly capacity: number;
  /** Refill rate in tokens per second; with several limits, the slowest. */
  readonly fillRate: number;
  /** The limits this bucket enforces, as configured. */
  readonly limits: readonly Readonly<Limit>[];
  /** The shared memory of the bucket: post it to a worker and attach with {@link SharedTokenBucket.from}. */
  readonly handle: SharedArrayBuffer;
  readonly #clock: Clock;
  readonly #lock: Int32Array;
  readonly #f: Float64Array;
  readonly #count: number;
  readonly #perMs: Float64Array;
  // This thread's waiters, in the order they reserved, and one timer for the first.
  #waiters: Waiter[] = [];
  #head = 0;
  /** Tokens this thread's waiters have reserved and not yet received. */
  #owed = 0;
  #timer: ClockTimer | undefined;
  readonly #wake = (): void => {
    this.#timer = undefined;
    this.#pump();
  };

  /** Creates a bucket in new shared memory, starting at `initialTokens` (default: full). */
  constructor(options: SharedTokenBucketOptions) {
    const handle = attaching;
    attaching = undefined;
    const o = check.options<SharedTokenBucketOptions>('options', options);
    if (handle === undefined) {
      if (options === undefined) throw new TypeError('options are required: { capacity, fillRate }');
      check.knownKeys('options', o, ['capacity', 'fillRate', 'initialTokens', 'clock', 'limits']);
    } else {
      check.knownKeys('options', o, ['clock']);
    }
    this.#clock = o.clock === undefined ? threadSharedClock : checkClock('clock', o.clock);
    let limits: check.LimitShape[];
    if (handle === undefined) {
      limits = check.limitsOf(o);
      this.handle = new SharedArrayBuffer(8 * (FIRST_LIMIT + PER_LIMIT * limits.length));
      this.#lock = new Int32Array(this.handle, 0, 4);
      this.#f = new Float64Array(this.handle);
      this.#lock[COUNT] = limits.length;
      this.#f[LAST] = this.#clock.now();
      limits.forEach((l, i) => {
        const at = FIRST_LIMIT + PER_LIMIT * i;
        this.#f[at + CAPACITY] = l.capacity;
        this.#f[at + FILL_RATE] = l.fillRate;
        this.#f[at + INITIAL] = l.initialTokens;
        this.#f[at + LEVEL] = l.initialTokens;
      });
      Atomics.store(this.#lock, TAG, TAG_VALUE); // published last: the buffer is complete
    } else {
      this.handle = handle;
      this.#lock = new Int32Array(handle, 0, 4);
      this.#f = new Float64Array(handle);
      const count = this.#lock[COUNT]!;
      limits = [];
      for (let i = 0; i < count; i++) {
        const at = FIRST_LIMIT + PER_LIMIT * i;
        const f = this.#f;
        limits.push({ capacity: f[at + CAPACITY] as number, fillRate: f[at + FILL_RATE] as number, initialTokens: f[at + INITIAL] as number });
      }
    }
    this.#count = limits.length;
    this.#perMs = Float64Array.from(limits, (l) => perMillisecond(l.fillRate));
    this.limits = Object.freeze(limits.map((l) => Object.freeze({ ...l })));
    this.capacity = Math.min(...limits.map((l) => l.capacity));
    this.fillRate = Math.min(...limits.map((l) => l.fillRate));
    lockFields<SharedTokenBucket>(this, ['capacity', 'fillRate', 'limits', 'handle']);
  }

  /**
   * Attaches to a bucket created in another thread (or this one) from its `handle`. The result
   * shares every token with the original; only the clock and the waiters are per thread.
   */
  static from(handle: SharedArrayBuffer, options?: SharedTokenBucketAttachOptions): SharedTokenBucket {
    if (!(handle instanceof SharedArrayBuffer)) {
      throw new TypeError('handle must be the SharedArrayBuffer of a SharedTokenBucket (bucket.handle)');
    }
    const words = handle.byteLength >= 24 ? new Int32Array(handle, 0, 4) : undefined;
    const count = words === undefined ? 0 : words[COUNT]!;
    if (words === undefined || Atomics.load(words, TAG) !== TAG_VALUE || count < 1
      || handle.byteLength !== 8 * (FIRST_LIMIT + PER_LIMIT * count)) {
      throw new TypeError('handle is not the SharedArrayBuffer of a SharedTokenBucket (bucket.handle)');
    }
    attaching = handle;
    return new SharedTokenBucket(options as SharedTokenBucketOptions);
  }

  /** Tokens available now (with several limits, the lowest level); below 0 while reservations wait. */
  get tokens(): number {
    this.#enter();
    try {
      this.#refill(this.#clock.now());
      let level = Infinity;
      for (let i = 0; i < this.#count; i++) level = Math.min(level, this.#level(i));
      return level;
    } finally {
      this.#leave();
    }
  }

  /** Milliseconds until `n` tokens are available (0 if now, `Infinity` if never, as for `n > capacity`). */
  timeUntil(n = 1): number {
    check.tokens(n);
    if (n > this.capacity) return Infinity;
    this.#enter();
    try {
      this.#refill(this.#clock.now());
      return this.#wait(n);
    } finally {
      this.#leave();
    }
  }

  /**
   * Takes `n` tokens (default 1) and returns `true`, or takes nothing and returns `false`,
   * atomically with respect to every thread. With `block: true` it reserves the tokens and
   * sleeps **this thread** until they are earned (as `TokenBucket.consume` does); it returns
   * `false` at once if the wait would exceed `maxWait` ms or never end. `n > capacity` returns
   * `false`, or throws `RangeError` with `block`.
   */
  consume(n = 1, options?: ConsumeOptions): boolean {
    if (typeof n !== 'number' || !(n >= 0) || n === Infinity) check.tokens(n);
    const { block, maxWait } = options === undefined ? NO_BLOCK : check.consumeOptions(options);
    if (n > this.capacity) {
      if (block) throw neverFits(n, this.capacity);
      return false;
    }
    if (n === 0) return true;
    let wait: number;
    this.#enter();
    try {
      this.#refill(this.#clock.now());
      wait = this.#wait(n);
      if (wait > 0 && (!block || wait === Infinity || wait > maxWait)) return false;
      if (wait > 0 && isManual(this.#clock)) throw manualClockSleep();
      this.#add(-n);
    } finally {
      this.#leave();
    }
    sleepSync(wait); // the tokens are reserved: no lock is held while this thread sleeps
    return true;
  }

  /**
   * Waits (without blocking the event loop) until `n` tokens are taken. Rejects with
   * {@link RateLimitExceeded} when the wait would exceed `maxWait` (`maxWait: 0` reports
   * `retryAfter` without waiting), with `signal.reason` on abort (the tokens go back to the
   * shared bucket), with `RangeError` if `n > capacity`.
   */
  acquire(n = 1, options?: AcquireOptions): Promise<void> {
    try {
      return this.#acquire(n, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #acquire(n: number, options: AcquireOptions | undefined): Promise<void> {
    check.tokens(n);
    const { maxWait, signal } = options === undefined ? NO_LIMIT : check.acquireOptions(options);
    if (n > this.capacity) throw neverFits(n, this.capacity);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (n === 0) return Promise.resolve();
    const now = this.#clock.now();
    let wait: number;
    let at: number;
    this.#enter();
    try {
      this.#refill(now);
      wait = this.#wait(n);
      if (wait > 0 && (wait === Infinity || wait > maxWait)) throw new RateLimitExceeded(wait);
      this.#add(-n);
      // The wait counts from the time the level was refilled to, which is later than `now` when
      // another thread refilled between our clock reading and the lock: from `now`, the waiter
      // would be served before its tokens are earned.
      at = this.#f[LAST]! + wait;
    } finally {
      this.#leave();
    }
    if (wait === 0 && this.#head === this.#waiters.length) return Promise.resolve();
    // Later waiters of this thread never resolve before earlier ones (the reservation order).
    return this.#enqueue(n, at, signal);
  }

  #enqueue(n: number, at: number, signal: AbortSignal | undefined): Promise<void> {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const waiter: Waiter = { n, at, resolve, reject, signal, onAbort: undefined };
    if (signal !== undefined) {
      waiter.onAbort = () => this.#cancel(waiter, signal.reason);
      onAbort(signal, waiter.onAbort);
    }
    this.#waiters.push(waiter);
    this.#owed += n;
    if (this.#waiters.length - this.#head === 1) this.#pump();
    return promise;
  }

  /**
   * Resolves every head waiter whose tokens are earned, then arms one timer for the next. A
   * head's tokens are earned at the time computed when it reserved, or earlier once the shared
   * level plus what this thread's waiters hold covers it (an abort gave tokens back).
   */
  #pump(): void {
    const now = this.#clock.now();
    let wait = 0;
    for (;;) {
      while (this.#head < this.#waiters.length && this.#waiters[this.#head]!.resolve === undefined) this.#head++;
      if (this.#head === this.#waiters.length) {
        this.#waiters = [];
        this.#head = 0;
        this.#owed = 0;
        this.#timer?.cancel();
        this.#timer = undefined;
        return;
      }
      const head = this.#waiters[this.#head]!;
      if (head.at > now) {
        this.#enter();
        try {
          this.#refill(now);
          wait = this.#wait(head.n, this.#owed);
        } finally {
          this.#leave();
        }
        if (wait > 0) break;
      }
      this.#head++;
      this.#owed -= head.n;
      this.#settle(head)?.();
    }
    const head = this.#waiters[this.#head]!;
    this.#timer?.cancel();
    this.#timer = schedule(this.#clock, Math.min(wait, head.at - now), this.#wake);
  }

  #cancel(waiter: Waiter, reason: unknown): void {
    if (waiter.resolve === undefined) return;
    this.#enter();
    try {
      this.#refill(this.#clock.now());
      this.#add(waiter.n); // not served yet: its reservation is still in the level
    } finally {
      this.#leave();
    }
    this.#settle(waiter);
    this.#owed -= waiter.n;
    waiter.reject(reason);
    this.#pump();
  }

  /** Marks a waiter settled and detaches its signal; returns its resolve function. */
  #settle(waiter: Waiter): (() => void) | undefined {
    const resolve = waiter.resolve;
    waiter.resolve = undefined;
    if (waiter.onAbort !== undefined) offAbort(waiter.signal!, waiter.onAbort);
    waiter.signal = undefined;
    waiter.onAbort = undefined;
    return resolve;
  }

  #level(i: number): number {
    return this.#f[FIRST_LIMIT + PER_LIMIT * i + LEVEL]!;
  }

  /** Refills every limit to `now`. A thread whose clock reads earlier than the last refill adds nothing. */
  #refill(now: number): void {
    const f = this.#f;
    const last = f[LAST]!;
    if (!(now > last)) return;
    f[LAST] = now;
    for (let i = 0; i < this.#count; i++) {
      const at = FIRST_LIMIT + PER_LIMIT * i;
      f[at + LEVEL] = refill(f[at + LEVEL]!, last, now, f[at + CAPACITY]!, this.#perMs[i]!);
    }
  }

  /** Longest wait over every limit until its level plus `extra` covers `n` (0 if all do now). */
  #wait(n: number, extra = 0): number {
    let wait = 0;
    const now = this.#f[LAST]!; // every caller refilled to its reading first: the clock's magnitude
    for (let i = 0; i < this.#count; i++) {
      const w = waitFor(this.#level(i) + extra, n, this.#perMs[i]!, now);
      if (w > wait) wait = w;
    }
    return wait;
  }

  /** Adds `delta` tokens to every limit (negative to take or reserve), never above a capacity. */
  #add(delta: number): void {
    const f = this.#f;
    for (let i = 0; i < this.#count; i++) {
      const at = FIRST_LIMIT + PER_LIMIT * i;
      f[at + LEVEL] = Math.min(f[at + CAPACITY]!, f[at + LEVEL]! + delta);
    }
  }

  // The lock: compare-and-swap to take it, a short spin, then Atomics.wait on the word
  // (0 free, 1 held, 2 held and someone may sleep on it, as in Drepper's "Futexes Are Tricky").
  #enter(): void {
    const lock = this.#lock;
    if (Atomics.compareExchange(lock, LOCK, 0, 1) === 0) return;
    for (let i = 0; i < SPINS; i++) {
      if (Atomics.load(lock, LOCK) === 0 && Atomics.compareExchange(lock, LOCK, 0, 1) === 0) return;
    }
    while (Atomics.exchange(lock, LOCK, 2) !== 0) Atomics.wait(lock, LOCK, 2);
  }

  #leave(): void {
    const lock = this.#lock;
    if (Atomics.sub(lock, LOCK, 1) !== 1) {
      Atomics.store(lock, LOCK, 0);
      Atomics.notify(lock, LOCK, 1);
    }
  }
}

markKind(SharedTokenBucket, 'single');

const NO_LIMIT = { maxWait: Infinity, signal: undefined } as const;
const NO_BLOCK = { block: false, maxWait: 0 } as const;
