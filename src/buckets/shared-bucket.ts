import { checkClock, type Clock } from '../clock.js';
import { decide } from '../core/decision.js';
import { addAll, advance, headWait, lowest, refund, reserve, waitAll } from '../core/limits.js';
import { RateLimitExceeded, answeredAtOnce, neverFits, refusalOf } from '../errors.js';
import { markKind } from '../kinds.js';
import { lockFields } from '../readonly.js';
import type { AcquirableBucket, AcquireOptions, ConsumeOptions, Decision, Limit, TokenBucketOptions } from '../types.js';
import { decisionChannel, publishDecision, watchWait } from '../events.js';
import * as check from '../validate.js';
import { checkCanSleep, sleepSync } from '../waiting/sleep.js';
import { WaiterQueue } from '../waiting/waiter-queue.js';
import { BUFFER, SharedBuffer, checkShared } from './shared-buffer.js';
import { threadSharedClock } from './shared-clock.js';

/** Options of {@link SharedTokenBucket}: those of `TokenBucket` (one limit or several). */
export type SharedTokenBucketOptions = TokenBucketOptions;

/** Options of {@link SharedTokenBucket.from}. */
export interface SharedTokenBucketAttachOptions {
  /**
   * Time source; must be on the same timeline in every thread sharing the bucket. Default:
   * {@link threadSharedClock}. Inject one only when every user of the buffer is in this thread.
   */
  clock?: Clock;
  /** Most callers of this thread that may wait in `acquire` at once; past it a request that would wait is refused. Default: unbounded. */
  maxWaiting?: number;
}

// How `from` hands an existing buffer to the constructor: a key no caller can spell.
const ATTACH: unique symbol = Symbol('attach');
type AttachOptions = SharedTokenBucketAttachOptions & { [ATTACH]: SharedBuffer };

const CREATE_KEYS = ['capacity', 'fillRate', 'initialTokens', 'clock', 'limits', 'maxWaiting'] as const;

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
  readonly #buffer: SharedBuffer;
  /** This thread's waiters on the shared reservations, one timer for the first. */
  #queue: WaiterQueue | undefined;
  readonly #maxWaiting: number;

  /** Creates a bucket in new shared memory, starting at `initialTokens` (default: full). */
  constructor(options: SharedTokenBucketOptions) {
    const o = check.options<SharedTokenBucketOptions>('options', options);
    const attached = (options as Partial<AttachOptions> | undefined)?.[ATTACH];
    if (attached === undefined && options === undefined) throw new TypeError('options are required: { capacity, fillRate }');
    check.knownKeys('options', o, attached === undefined ? CREATE_KEYS : ['clock', 'maxWaiting']);
    this.#maxWaiting = check.maxWaiting(o.maxWaiting);
    this.#clock = o.clock === undefined ? threadSharedClock : checkClock('clock', o.clock);
    if (attached === undefined) checkShared(); // before the default clock, whose own error would hide this one
    this.#buffer = attached ?? SharedBuffer.create(check.limitsOf(o), this.#clock.now());
    const limits = this.#buffer.limits();
    this.handle = this.#buffer.handle;
    this.limits = Object.freeze(limits.map((l) => Object.freeze(l)));
    this.capacity = Math.min(...limits.map((l) => l.capacity));
    this.fillRate = Math.min(...limits.map((l) => l.fillRate));
    lockFields<SharedTokenBucket>(this, ['capacity', 'fillRate', 'limits', 'handle']);
  }

  /**
   * Attaches to a bucket created in another thread (or this one) from its `handle`. The result
   * shares every token with the original; only the clock and the waiters are per thread.
   */
  static from(handle: SharedArrayBuffer, options?: SharedTokenBucketAttachOptions): SharedTokenBucket {
    const buffer = SharedBuffer.attach(handle);
    const o = check.options<SharedTokenBucketAttachOptions>('options', options);
    return new SharedTokenBucket({ ...o, [ATTACH]: buffer } as unknown as SharedTokenBucketOptions);
  }

  /**
   * Takes `n` tokens (default 1) at once, even if that leaves a level below 0: nothing passes
   * until time has paid the debt back (a penalty for abuse). Waiters already queued (in any thread) keep their turn.
   */
  penalize(n = 1): void {
    check.tokens(n);
    const now = this.#clock.now();
    this.#buffer.locked(() => refund(BUFFER, this.#buffer, -n, now));
  }

  /** Gives `n` tokens (default 1) back, never above capacity; this thread's queued waiters that now have their tokens are served. */
  reward(n = 1): void {
    check.tokens(n);
    const now = this.#clock.now();
    this.#buffer.locked(() => refund(BUFFER, this.#buffer, n, now));
    this.#queue?.pump(now);
  }

  /** Callers of this thread waiting in `acquire` now. */
  get waiting(): number {
    return this.#queue?.size ?? 0;
  }

  /** Tokens available now (with several limits, the lowest level); below 0 while reservations wait. */
  get tokens(): number {
    const now = this.#clock.now();
    return this.#buffer.locked(() => {
      advance(BUFFER, this.#buffer, now);
      return lowest(BUFFER, this.#buffer);
    });
  }

  /** Milliseconds until `n` tokens are available (0 if now, `Infinity` if never, as for `n > capacity`). */
  timeUntil(n = 1): number {
    check.tokens(n);
    if (n > this.capacity) return Infinity;
    const now = this.#clock.now();
    return this.#buffer.locked(() => {
      advance(BUFFER, this.#buffer, now);
      return waitAll(BUFFER, this.#buffer, n, now);
    });
  }

  /**
   * Takes `n` tokens (default 1) and returns `true`, or takes nothing and returns `false`,
   * atomically with respect to every thread. With `block: true` it reserves the tokens and
   * sleeps **this thread** until they are earned (as `TokenBucket.consume` does); it returns
   * `false` at once if the wait would exceed `maxWait` ms or never end. `n > capacity` returns
   * `false`, or throws `RangeError` with `block`.
   */
  consume(n = 1, options?: ConsumeOptions): boolean {
    const taken = this.#consume(n, options);
    if (decisionChannel.hasSubscribers) publishDecision(this, undefined, n, taken);
    return taken;
  }

  #consume(n: number, options: ConsumeOptions | undefined): boolean {
    if (typeof n !== 'number' || !(n >= 0) || n === Infinity) check.tokens(n);
    const { block, maxWait } = options === undefined ? NO_BLOCK : check.consumeOptions(options);
    if (n > this.capacity) {
      if (block) throw neverFits(n, this.capacity);
      return false;
    }
    if (n === 0) return true;
    const buffer = this.#buffer;
    const now = this.#clock.now();
    const wait = buffer.locked(() => {
      if (!block) return reserve(BUFFER, buffer, n, 0, now);
      advance(BUFFER, buffer, now);
      const w = waitAll(BUFFER, buffer, n, now);
      if (w === Infinity || w > maxWait) return w;
      if (w > 0) checkCanSleep(this.#clock);
      addAll(BUFFER, buffer, -n);
      return w;
    });
    if (wait > (block ? maxWait : 0) || wait === Infinity) return false;
    sleepSync(wait); // the tokens are reserved: no lock is held while this thread sleeps
    return true;
  }

  /**
   * Takes `n` tokens (default 1) if they are all there now, atomically with respect to every
   * thread and without waiting, and returns the whole decision: whether they were taken, what
   * each limit holds after it, how long until the same request could pass and until the bucket is
   * full again. `n > capacity` is a refused decision with `retryAfter: Infinity`.
   */
  take(n = 1): Decision {
    check.tokens(n);
    const now = this.#clock.now();
    const decision = this.#buffer.locked(() => decide(BUFFER, this.#buffer, n, this.capacity, now, this.limits));
    if (decisionChannel.hasSubscribers) publishDecision(this, undefined, n, decision.allowed);
    return decision;
  }

  /**
   * Waits (without blocking the event loop) until `n` tokens are taken. Rejects with
   * {@link RateLimitExceeded} when the wait would exceed `maxWait` (`maxWait: 0` reports
   * `retryAfter` without waiting), with `signal.reason` on abort (the tokens go back to the
   * shared bucket), with `RangeError` if `n > capacity`.
   */
  acquire(n = 1, options?: AcquireOptions): Promise<void> {
    let waited: Promise<void>;
    try {
      const { maxWait, signal } = check.acquireRequest(n, options, this.capacity);
      waited = answeredAtOnce(n, signal) ?? this.#reserve(n, maxWait, signal);
    } catch (error) {
      waited = Promise.reject(error);
    }
    return decisionChannel.hasSubscribers ? watchWait(this, undefined, n, this.#clock, waited) : waited;
  }

  #reserve(n: number, maxWait: number, signal: AbortSignal | undefined): Promise<void> {
    const buffer = this.#buffer;
    const now = this.#clock.now();
    // The wait counts from the time the level was refilled to, which is later than `now` when
    // another thread refilled between our clock reading and the lock: the ready time counts from
    // there, or the waiter would be served before its tokens are earned.
    let from = now;
    const full = this.waiting >= this.#maxWaiting;
    const wait = buffer.locked(() => {
      const w = reserve(BUFFER, buffer, n, full ? 0 : maxWait, now);
      from = BUFFER.last(buffer, 0);
      return w;
    });
    if (wait > 0) {
      const refused = refusalOf(wait, maxWait, full, this.#maxWaiting);
      if (refused !== undefined) throw refused;
    }
    // Later waiters of this thread never resolve before earlier ones (the reservation order).
    if (wait === 0 && (this.#queue === undefined || this.#queue.size === 0)) return Promise.resolve();
    this.#queue ??= this.#newQueue();
    return this.#queue.enqueue(n, from + wait, signal);
  }

  #newQueue(): WaiterQueue {
    const buffer = this.#buffer;
    const queue: WaiterQueue = new WaiterQueue({
      clock: this.#clock,
      serve: (n, at, now) => (at <= now ? 0 : buffer.locked(() => headWait(BUFFER, buffer, n, at, now, queue.owed))),
      release: (n) => {
        const now = this.#clock.now();
        buffer.locked(() => refund(BUFFER, buffer, n, now));
      },
    }, true); // other threads' reservations are in the level too: the planned time tells
    return queue;
  }
}

markKind(SharedTokenBucket, 'single');

const NO_BLOCK = { block: false, maxWait: 0 } as const;
