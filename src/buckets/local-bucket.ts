import { checkClock, type Clock } from '../clock.js';
import { decide } from '../core/decision.js';
import { addAll, advance, headWait, lowest, refund, reserve, waitAll, type Limits } from '../core/limits.js';
import { covers, perMillisecond, refill } from '../core/refill.js';
import { RateLimitExceeded, answeredAtOnce, neverFits, refusalOf } from '../errors.js';
import { markKind } from '../kinds.js';
import { lockChangeable, replaceField } from '../readonly.js';
import type { AcquirableBucket, AcquireOptions, Decision, Limit, LimitsUpdate, TokenBucketOptions } from '../types.js';
import { decisionChannel, watchWait } from '../events.js';
import * as check from '../validate.js';
import { checkCanSleep } from '../waiting/sleep.js';
import { WaiterQueue } from '../waiting/waiter-queue.js';

const BUCKET_KEYS = ['capacity', 'fillRate', 'initialTokens', 'clock', 'limits', 'maxWaiting'] as const;

/**
 * `maxWaiting` of the buckets that set one. Kept off the bucket: a field would cost every bucket
 * 8 bytes, and only waiting requests read it.
 */
const maxWaitingOf = new WeakMap<LocalBucket, number>();

/** How the bucket's limits are laid out for the core (set in the class's static block). */
let LIMITS: Limits<LocalBucket>;

/**
 * A bucket with several limits keeps each as `Slot.Stride` numbers of one `Float64Array`, at these
 * offsets from the limit's start, and one refill time for all of them (they are always refilled
 * together). A const enum, so the offsets compile to literals: bundled, a module-level `const`
 * becomes a `var`, which V8 loads and checks on every use.
 */
const enum Slot {
  Capacity = 0,
  PerMs = 1,
  Level = 2,
  Stride = 3,
}

// The verbs' internals, reachable only from this library's own modules (set in the class's static block).

/** Takes `n` tokens (n <= capacity) from `bucket` if they are all there now; never waits. */
export let takeNow: (bucket: LocalBucket, n: number) => boolean;

/**
 * The blocking form of a synchronous consume: reserves `n` and sleeps the thread until they are
 * earned; `false` at once if that would take longer than `maxWait`.
 */
export let takeBlocking: (bucket: LocalBucket, n: number, maxWait: number, sleep: (ms: number) => void) => boolean;

/** take(n): the non-waiting decision on `bucket` in full (`n` checked by the caller). */
export let decideNow: (bucket: LocalBucket, n: number) => Decision;

/**
 * State and verbs shared by {@link TokenBucket} and {@link AsyncTokenBucket}.
 *
 * Waiters reserve their tokens when they queue (the level goes below 0 by what they are owed),
 * as in Go's x/time/rate: time keeps earning tokens for them even while their timer is late,
 * and a later request sees the debt and cannot overtake them.
 */
export abstract class LocalBucket implements AcquirableBucket {
  /** Most tokens the bucket holds; with several limits, the smallest capacity (the largest request that can pass). */
  readonly capacity: number;
  /** Refill rate in tokens per second; with several limits, the slowest (the long-run rate). */
  readonly fillRate: number;
  /** The limits this bucket enforces, as configured. */
  readonly limits: readonly Readonly<Limit>[];
  readonly #clock: Clock;
  // A single limit lives in plain fields, so its take is a few loads and a compare. With several
  // limits these are NaN, unused: every limit is in #several.
  #capacity: number;
  #perMs: number;
  #level: number;
  /**
   * Clock time of the last refill, of every limit. Declared with a fractional value so that V8
   * keeps the field as a double it overwrites in place: a field declared bare starts as
   * `undefined`, and each clock reading stored into it afterwards is a new heap number (an
   * allocation and a write barrier on every consume).
   */
  #last = 0.5;
  /**
   * Every limit of a bucket with several, `Slot.Stride` numbers each (undefined with one limit).
   * A typed array holds them as raw doubles (storing a level allocates nothing), and one loop
   * serves them all.
   */
  #several: Float64Array | undefined;
  #queue: WaiterQueue | undefined;

  constructor(options: TokenBucketOptions) {
    const o = check.required<TokenBucketOptions>(options, BUCKET_KEYS, '{ capacity, fillRate }');
    const limits = check.limitsOf(o);
    this.#clock = checkClock('clock', o.clock);
    const now = this.#clock.now();
    const single = limits.length === 1 ? limits[0]! : undefined;
    this.limits = frozenLimits(limits);
    this.capacity = Math.min(...limits.map((l) => l.capacity));
    this.fillRate = Math.min(...limits.map((l) => l.fillRate));
    this.#capacity = single === undefined ? NaN : single.capacity;
    this.#perMs = single === undefined ? NaN : perMillisecond(single.fillRate);
    this.#level = single === undefined ? NaN : single.initialTokens;
    this.#last = now;
    this.#several = single === undefined ? severalLimits(limits) : undefined;
    const maxWaiting = check.maxWaiting(o.maxWaiting);
    if (maxWaiting !== Infinity) maxWaitingOf.set(this, maxWaiting);
    lockChangeable<LocalBucket>(this, ['capacity', 'fillRate', 'limits']);
  }

  static {
    takeNow = (bucket, n) => (bucket.#several === undefined ? bucket.#tryTake(n) : bucket.#tryTakeAll(n));
    takeBlocking = (bucket, n, maxWait, sleep) => bucket.#blockingTake(n, maxWait, sleep);
    decideNow = (bucket, n) => decide(LIMITS, bucket, n, bucket.capacity, bucket.#clock.now(), bucket.limits);
    LIMITS = {
      count: (b) => (b.#several === undefined ? 1 : b.#several.length / Slot.Stride),
      capacity: (b, i) => (b.#several === undefined ? b.#capacity : b.#several[Slot.Stride * i + Slot.Capacity]!),
      perMs: (b, i) => (b.#several === undefined ? b.#perMs : b.#several[Slot.Stride * i + Slot.PerMs]!),
      level: (b, i) => (b.#several === undefined ? b.#level : b.#several[Slot.Stride * i + Slot.Level]!),
      last: (b) => b.#last,
      set: (b, i, level, last) => {
        const several = b.#several;
        if (several === undefined) {
          b.#level = level;
          b.#last = last;
          return;
        }
        several[Slot.Stride * i + Slot.Level] = level;
        // One refill time for all: stored with the last limit, after every limit has read the old one.
        if (Slot.Stride * (i + 1) === several.length) b.#last = last;
      },
    };
  }

  /**
   * Tokens available now, after refill (with several limits, the lowest level). Below 0 while
   * queued waiters hold reservations; never above capacity.
   */
  get tokens(): number {
    advance(LIMITS, this, this.#clock.now());
    return lowest(LIMITS, this);
  }

  /**
   * Takes `n` tokens (default 1) at once, even if that leaves a level below 0: nothing passes
   * until time has paid the debt back (a penalty for abuse). Waiters already queued keep their turn.
   */
  penalize(n = 1): void {
    check.tokens(n);
    refund(LIMITS, this, -n, this.#clock.now());
  }

  /** Gives `n` tokens (default 1) back, never above capacity; queued waiters that now have their tokens are served. */
  reward(n = 1): void {
    check.tokens(n);
    const now = this.#clock.now();
    refund(LIMITS, this, n, now);
    this.#queue?.pump(now);
  }

  /**
   * Changes the limits from now on, as Go's `SetLimit`/`SetBurst` do: tokens earned up to now
   * count at the old rates, a level above its new capacity is cut to it, and queued waiters are
   * re-timed to the new rates (they keep their turn and their reservations). Limits are matched
   * by position; one with no counterpart before starts at its `initialTokens`. `capacity`,
   * `fillRate` and `limits` read the new values.
   */
  setLimits(update: LimitsUpdate): void {
    const limits = check.limitsUpdate(update);
    const now = this.#clock.now();
    advance(LIMITS, this, now);
    const count = LIMITS.count(this);
    const levels = Array.from({ length: count }, (_, i) => LIMITS.level(this, i));
    const single = limits.length === 1 ? limits[0]! : undefined;
    const level = (i: number): number => (i < count ? Math.min(levels[i]!, limits[i]!.capacity) : limits[i]!.initialTokens);
    this.#capacity = single === undefined ? NaN : single.capacity;
    this.#perMs = single === undefined ? NaN : perMillisecond(single.fillRate);
    this.#level = single === undefined ? NaN : level(0);
    this.#several = single === undefined ? severalLimits(limits.map((l, i) => ({ ...l, initialTokens: level(i) }))) : undefined;
    replaceField<LocalBucket, 'limits'>(this, 'limits', frozenLimits(limits));
    replaceField<LocalBucket, 'capacity'>(this, 'capacity', Math.min(...limits.map((l) => l.capacity)));
    replaceField<LocalBucket, 'fillRate'>(this, 'fillRate', Math.min(...limits.map((l) => l.fillRate)));
    // The queue's host reads the levels only: the new rates re-time the head once it re-arms.
    this.#queue?.retime(now);
  }

  /** Callers waiting in `acquire` (or an async `consume` with `block`) now. */
  get waiting(): number {
    return this.#queue?.size ?? 0;
  }

  /** Milliseconds until `n` tokens are available (0 if now, `Infinity` if never, as for `n > capacity`). */
  timeUntil(n = 1): number {
    check.tokens(n);
    if (n > this.capacity) return Infinity;
    const now = this.#clock.now();
    advance(LIMITS, this, now);
    return waitAll(LIMITS, this, n, now);
  }

  /**
   * Waits (without blocking the event loop) until `n` tokens are taken. Rejects with
   * {@link RateLimitExceeded} when the wait would exceed `maxWait`, with `signal.reason` on abort,
   * and with `RangeError` if `n > capacity`. Waiters are served first come, first served.
   */
  acquire(n = 1, options?: AcquireOptions): Promise<void> {
    let waited: Promise<void>;
    try {
      waited = this.#acquire(n, options);
    } catch (error) {
      waited = Promise.reject(error);
    }
    return decisionChannel.hasSubscribers ? watchWait(this, undefined, n, this.#clock, waited) : waited;
  }

  #acquire(n: number, options: AcquireOptions | undefined): Promise<void> {
    const { maxWait, signal } = check.acquireRequest(n, options, this.capacity);
    const early = answeredAtOnce(n, signal);
    if (early !== undefined) return early;
    const now = this.#clock.now();
    // Waiters whose tokens are earned but whose timer has not fired yet resolve before us.
    if (this.#queue !== undefined && this.#queue.size > 0) this.#queue.pump(now);
    const maxWaiting = maxWaitingOf.get(this) ?? Infinity;
    const full = this.waiting >= maxWaiting;
    const wait = reserve(LIMITS, this, n, full ? 0 : maxWait, now);
    if (wait === 0) return Promise.resolve();
    const refused = refusalOf(wait, maxWait, full, maxWaiting);
    if (refused !== undefined) throw refused;
    this.#queue ??= this.#newQueue();
    return this.#queue.enqueue(n, now + wait, signal);
  }

  #newQueue(): WaiterQueue {
    const queue: WaiterQueue = new WaiterQueue({
      clock: this.#clock,
      serve: (n, at, now) => headWait(LIMITS, this, n, at, now, queue.owed),
      release: (n) => refund(LIMITS, this, n, this.#clock.now()),
    }, false); // the levels and what the queue holds tell when the head's tokens are earned
    return queue;
  }

  /** Takes `n` tokens (n <= capacity) from the single limit if they are there now; never waits. */
  #tryTake(n: number): boolean {
    // Taking nothing always succeeds, even while waiters' reservations hold the level below 0.
    if (n === 0) return true;
    const now = this.#clock.now();
    // The hot path of every consume: the core's reserve written out for one limit, so each field
    // is loaded once and stored once (a property test pins the two together).
    let level = this.#level;
    const last = this.#last;
    if (now > last) {
      this.#last = now;
      level = refill(level, last, now, this.#capacity, this.#perMs);
    }
    if (!covers(level, n, this.#perMs, now)) {
      this.#level = level;
      return false;
    }
    this.#level = level - n;
    return true;
  }

  /**
   * {@link LocalBucket.#tryTake} with several limits: the core's reserve (maxWait 0) written out
   * as one loop over #several, as the single-limit path is for one; a property test pins it to the
   * core. Through the core, each level is read and written by the layout's calls in three passes
   * and boxed on the way, and in a process that also runs other kinds of bucket those calls are
   * megamorphic and are not inlined at all. Kept small (one call site each of refill and covers),
   * so that it still fits V8's inlining budget of its callers.
   */
  #tryTakeAll(n: number): boolean {
    if (n === 0) return true;
    const now = this.#clock.now();
    const several = this.#several!;
    const end = several.length;
    const last = this.#last;
    if (now > last) this.#last = now;
    // refill adds nothing unless now > last: one pass refills each limit and checks it.
    let fits = true;
    for (let i = 0; i < end; i += Slot.Stride) {
      const perMs = several[i + Slot.PerMs]!;
      const level = refill(several[i + Slot.Level]!, last, now, several[i + Slot.Capacity]!, perMs);
      several[i + Slot.Level] = level;
      if (fits) fits = covers(level, n, perMs, now);
    }
    if (!fits) return false;
    // Levels never exceed their capacities, so taking n > 0 needs no clamp (the core's addAll has one).
    for (let i = Slot.Level; i < end; i += Slot.Stride) several[i] = several[i]! - n;
    return true;
  }

  /**
   * Blocking form of consume: reserves `n` and sleeps the thread until they are earned.
   * Returns false at once if that would take longer than `maxWait`.
   */
  #blockingTake(n: number, maxWait: number, sleep: (ms: number) => void): boolean {
    if (n > this.capacity) throw neverFits(n, this.capacity);
    if (n === 0) return true;
    const now = this.#clock.now();
    advance(LIMITS, this, now);
    const wait = waitAll(LIMITS, this, n, now);
    if (wait === Infinity || wait > maxWait) return false;
    if (wait > 0) checkCanSleep(this.#clock);
    addAll(LIMITS, this, -n);
    sleep(wait);
    return true;
  }
}

markKind(LocalBucket, 'single');

/** Every limit of a bucket with several, laid out as {@link LocalBucket}'s #several. */
function severalLimits(limits: readonly check.LimitShape[]): Float64Array {
  const several = new Float64Array(Slot.Stride * limits.length);
  limits.forEach((l, k) => {
    const at = Slot.Stride * k;
    several[at + Slot.Capacity] = l.capacity;
    several[at + Slot.PerMs] = perMillisecond(l.fillRate);
    several[at + Slot.Level] = l.initialTokens;
  });
  return several;
}

// Buckets made one after another with the same limits (one per user, say) share one frozen
// list instead of a list each, a large share of a small bucket's memory. The checked limits are
// fresh objects of one shape, so they are frozen as they are (freezing spread copies gave each
// bucket its own hidden class).
let lastLimits: readonly Readonly<Limit>[] = [];

function frozenLimits(limits: check.LimitShape[]): readonly Readonly<Limit>[] {
  const last = lastLimits;
  const same = last.length === limits.length && limits.every((l, i) => {
    const k = last[i]!;
    return k.capacity === l.capacity && k.fillRate === l.fillRate && k.initialTokens === l.initialTokens;
  });
  if (!same) lastLimits = Object.freeze(limits.map((l) => Object.freeze(l)));
  return lastLimits;
}


