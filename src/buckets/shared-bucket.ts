import { checkClock, type Clock } from '../clock.js';
import { decide } from '../core/decision.js';
import { addAll, advance, headWait, lowest, refund, reserve, slowdown, stretch, waitAll } from '../core/limits.js';
import { RateLimitExceeded, answeredAtOnce, neverFits, refusalOf } from '../errors.js';
import { markKind } from '../kinds.js';
import { lockFields } from '../readonly.js';
import type { AcquirableBucket, AcquireOptions, ConsumeOptions, Decision, Limit, LimitsUpdate, TokenBucketOptions } from '../types.js';
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
  /** The limits as this thread last read them, and the change count they are of. */
  #view: LimitsView;
  /** The shared memory of the bucket: post it to a worker and attach with {@link SharedTokenBucket.from}. */
  readonly handle: SharedArrayBuffer;
  readonly #clock: Clock;
  readonly #buffer: SharedBuffer;
  /** This thread's waiters on the shared reservations, one timer for the first. */
  #queue: WaiterQueue | undefined;
  /** The rates (and their change count) this thread's waiters' ready times were planned at. */
  #timedAt: { version: number; perMs: Float64Array } | undefined;
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
    this.handle = this.#buffer.handle;
    this.#view = this.#buffer.locked(() => viewOf(this.#buffer));
    lockFields<SharedTokenBucket>(this, ['handle']);
  }

  /** Most tokens the bucket holds; with several limits, the smallest capacity. */
  get capacity(): number {
    return this.#current().capacity;
  }

  /** Refill rate in tokens per second; with several limits, the slowest. */
  get fillRate(): number {
    return this.#current().fillRate;
  }

  /** The limits this bucket enforces, as configured (or as last set by `setLimits` in any thread). */
  get limits(): readonly Readonly<Limit>[] {
    return this.#current().limits;
  }

  #current(): LimitsView {
    if (this.#view.version !== this.#buffer.changes) this.#view = this.#buffer.locked(() => viewOf(this.#buffer));
    return this.#view;
  }

  /**
   * Changes the limits for every thread from now on, as Go's `SetLimit`/`SetBurst` do: tokens
   * earned up to now count at the old rates, a level above its new capacity is cut to it, and
   * queued waiters are re-timed (this thread's now, other threads' at their next look at the
   * bucket; never served before their tokens are earned). The number of limits stays as created:
   * the shared memory has room for that many.
   */
  setLimits(update: LimitsUpdate): void {
    const limits = check.limitsUpdate(update);
    if (limits.length !== this.#buffer.count) {
      throw new TypeError(`a SharedTokenBucket keeps its number of limits (${this.#buffer.count}), got ${limits.length}`);
    }
    this.#buffer.setLimits(limits, this.#clock.now());
    this.#retime();
  }

  /** Re-times this thread's waiters if the rates changed since their ready times were planned. */
  #retime(): void {
    const timed = this.#timedAt;
    const buffer = this.#buffer;
    if (timed === undefined || timed.version === buffer.changes) return;
    const { perMs, changedAt } = buffer.locked(() => ({ perMs: buffer.perMs, changedAt: buffer.changedAt }));
    // One change since: each ready time stretches from when it happened. Several: their times are
    // not kept, so only the levels tell (never early; later, by other threads' reservations).
    const ratio = buffer.version === timed.version + 1 ? slowdown([...timed.perMs], [...perMs]) : Infinity;
    this.#timedAt = { version: buffer.version, perMs };
    this.#queue?.retime(this.#clock.now(), (at) => stretch(at, changedAt, ratio));
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
    let planned = { version: 0, perMs: buffer.perMs };
    const full = this.waiting >= this.#maxWaiting;
    const wait = buffer.locked(() => {
      const w = reserve(BUFFER, buffer, n, full ? 0 : maxWait, now);
      from = BUFFER.last(buffer, 0);
      planned = { version: buffer.version, perMs: buffer.perMs };
      return w;
    });
    if (wait > 0) {
      const refused = refusalOf(wait, maxWait, full, this.#maxWaiting);
      if (refused !== undefined) throw refused;
    }
    // Later waiters of this thread never resolve before earlier ones (the reservation order).
    if (wait === 0 && (this.#queue === undefined || this.#queue.size === 0)) return Promise.resolve();
    this.#retime();
    this.#queue ??= this.#newQueue(planned);
    // Planned at rates another thread changed in between (rare): the levels alone tell.
    const at = planned.version === this.#timedAt!.version ? from + wait : Infinity;
    return this.#queue.enqueue(n, at, signal);
  }

  #newQueue(timedAt: { version: number; perMs: Float64Array }): WaiterQueue {
    const buffer = this.#buffer;
    const queue: WaiterQueue = new WaiterQueue({
      clock: this.#clock,
      serve: (n, at, now) => {
        // Another thread changed the rates: re-time first (out of this pump), serve after.
        if (this.#timedAt!.version !== buffer.changes) {
          queueMicrotask(() => this.#retime());
          return Infinity;
        }
        return at <= now ? 0 : buffer.locked(() => headWait(BUFFER, buffer, n, at, now, queue.owed));
      },
      release: (n) => {
        const now = this.#clock.now();
        buffer.locked(() => refund(BUFFER, buffer, n, now));
      },
    }, true); // other threads' reservations are in the level too: the planned time tells
    this.#timedAt = timedAt;
    return queue;
  }
}

markKind(SharedTokenBucket, 'single');

const NO_BLOCK = { block: false, maxWait: 0 } as const;

interface LimitsView {
  readonly version: number;
  readonly limits: readonly Readonly<Limit>[];
  readonly capacity: number;
  readonly fillRate: number;
}

/** The limits of `buffer` as they are now: read holding its lock. */
function viewOf(buffer: SharedBuffer): LimitsView {
  const limits = buffer.limits();
  return {
    version: buffer.version,
    limits: Object.freeze(limits.map((l) => Object.freeze(l))),
    capacity: Math.min(...limits.map((l) => l.capacity)),
    fillRate: Math.min(...limits.map((l) => l.fillRate)),
  };
}
