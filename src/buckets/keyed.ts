import { checkClock, type Clock } from '../clock.js';
import { blindDecision, decide } from '../core/decision.js';
import { addAll, advance, headWait, lowest, refund, reserve, waitAll, type Limits } from '../core/limits.js';
import { covers, perMillisecond, refill, waitFor } from '../core/refill.js';
import { RateLimitExceeded, neverFits, refusalOf } from '../errors.js';
import { markKind } from '../kinds.js';
import { lockChangeable, lockFields, replaceField } from '../readonly.js';
import type { AcquireOptions, ConsumeOptions, Decision, KeyedAcquirable, Limit, LimitsFor, LimitsUpdate, TokenBucketOptions } from '../types.js';
import { decisionChannel, publishDecision, watchWait } from '../events.js';
import * as check from '../validate.js';
import { checkCanSleep, sleepSync } from '../waiting/sleep.js';
import { WaiterQueue, type QueueHost } from '../waiting/waiter-queue.js';
import { KeySlots } from './key-slots.js';

/**
 * Options of {@link KeyedTokenBucket}: one configuration for every key, given as one inline
 * limit (`capacity`, `fillRate`, `initialTokens`) or as several `limits`, plus the clock and
 * an optional hard bound on remembered keys.
 */
export type KeyedTokenBucketOptions = (TokenBucketOptions | TieredOptions) & {
  /**
   * Most keys remembered at once (an integer >= 1; default `Infinity`: bounded only by the
   * keys that are active). When a new key would pass it, the least recently used key without
   * queued waiters is forgotten, which hands that key a new bucket on its next request.
   */
  maxKeys?: number;
};


/** Keyed options with per-key limits in place of `capacity`/`fillRate`/`limits`. */
export interface TieredOptions {
  /** The limits of each key, asked once per new bucket (see {@link LimitsFor}). */
  limitsFor: LimitsFor;
  capacity?: undefined;
  fillRate?: undefined;
  initialTokens?: undefined;
  limits?: undefined;
  clock?: Clock;
  maxWaiting?: number;
}

const OPTION_KEYS = ['capacity', 'fillRate', 'initialTokens', 'clock', 'limits', 'limitsFor', 'maxKeys', 'maxWaiting'] as const;

/** One set of limits and what the takes need of it, shared by every key that has it. */
interface Tier {
  readonly count: number;
  readonly caps: Float64Array;
  readonly perMs: Float64Array;
  readonly initial: Float64Array;
  /** The limits as configured, frozen: what decisions report. */
  readonly limits: readonly Readonly<Limit>[];
  /** Smallest capacity: the largest request that can pass. */
  readonly capacity: number;
  /** Slowest rate. */
  readonly fillRate: number;
  /** What a full bucket is reset to when some limit starts below its capacity ("full" and "new" differ); else undefined. */
  readonly resetTo: Float64Array | undefined;
}

function tierOf(limits: readonly check.LimitShape[]): Tier {
  const initial = Float64Array.from(limits, (l) => l.initialTokens);
  return {
    count: limits.length,
    caps: Float64Array.from(limits, (l) => l.capacity),
    perMs: Float64Array.from(limits, (l) => perMillisecond(l.fillRate)),
    initial,
    limits: Object.freeze(limits.map((l) => Object.freeze({ ...l }))),
    capacity: Math.min(...limits.map((l) => l.capacity)),
    fillRate: Math.min(...limits.map((l) => l.fillRate)),
    resetTo: limits.some((l) => l.initialTokens < l.capacity) ? initial : undefined,
  };
}


/** Where a key with queued waiters keeps them: one queue, one timer, per waiting key only. */
interface KeyWaiters extends QueueHost {
  readonly queue: WaiterQueue;
}

/**
 * Token buckets for many keys (users, IPs, API keys) with one configuration: each key has its
 * own bucket, created by its first `consume`/`acquire` (even of 0 tokens) at `initialTokens`.
 *
 * Memory is bounded by the keys that are **active**: a bucket that has refilled to full is
 * forgotten (no timer per key: each new key sweeps a couple of old entries), because a full
 * bucket and a new one behave alike. With `initialTokens < capacity` they do not, so the rule is
 * made exact instead: a key whose bucket has refilled to full starts again at `initialTokens`,
 * whether or not the sweep has reached it yet (as a Redis key that expired when full would).
 *
 * Per key the state is a slot in a `Float64Array` (the time of the last refill and one level per
 * limit) and one `Map` entry from the key to its slot: no object per key.
 *
 * @example
 * const perUser = new KeyedTokenBucket({ capacity: 10, fillRate: 1 });
 * if (!perUser.consume(userId)) reply(429);
 */
export class KeyedTokenBucket implements KeyedAcquirable {
  /**
   * Most tokens one key's bucket holds; with several limits, the smallest capacity. `NaN` with
   * `limitsFor` (each key has its own: see `limitsOf`).
   */
  readonly capacity: number;
  /** Refill rate in tokens per second; with several limits, the slowest. `NaN` with `limitsFor`. */
  readonly fillRate: number;
  /** The limits every key's bucket enforces, as configured; empty with `limitsFor`. */
  readonly limits: readonly Readonly<Limit>[];
  /** Hard bound on remembered keys (`Infinity` when not set). */
  readonly maxKeys: number;
  readonly #clock: Clock;
  /**
   * Without `limitsFor`: the number of limits of the one tier every key has, whose arrays follow
   * (copied here for the takes). With `limitsFor`: -1, each slot names its tier, and the one-limit
   * fast paths are skipped.
   */
  #count: number;
  #caps: Float64Array;
  #perMs: Float64Array;
  #initial: Float64Array;
  /** A full bucket may have to start over at its initial levels (with `limitsFor`, its tier says whether). */
  #resetWhenFull: boolean;
  /** Every tier; with `limitsFor`, one per distinct set of limits it has returned, found by `#tierIds`. */
  #tiers: Tier[];
  #tierIds: Map<string, number> | undefined;
  #limitsFor: LimitsFor | undefined;
  /** Numbers of a slot before its levels: the last refill time, and with `limitsFor` the tier's index. */
  readonly #head: 1 | 2;
  /** The keys and their slots: [last refill time, (tier,) level of each limit] per key. */
  readonly #keys: KeySlots;
  /** The core's view of a slot (by its offset in the slots' state). */
  readonly #limits: Limits<number>;
  readonly #waiting = new Map<number, KeyWaiters>();
  /** Callers waiting now, over every key; at most `#maxWaiting`. */
  #waiters = 0;
  readonly #maxWaiting: number;

  constructor(options: KeyedTokenBucketOptions) {
    const o = check.required<KeyedTokenBucketOptions & Partial<TieredOptions>>(options, OPTION_KEYS, '{ capacity, fillRate } or { limitsFor }');
    this.#limitsFor = o.limitsFor === undefined ? undefined : check.limitsForOption(o);
    const tier = this.#limitsFor === undefined ? tierOf(check.limitsOf(o as Partial<Limit> & { limits?: unknown })) : undefined;
    this.#clock = checkClock('clock', o.clock);
    this.maxKeys = checkMaxKeys(o.maxKeys);
    this.#maxWaiting = check.maxWaiting(o.maxWaiting);
    this.#tiers = tier === undefined ? [] : [tier];
    this.#tierIds = tier === undefined ? new Map() : undefined;
    this.#head = tier === undefined ? 2 : 1;
    this.#count = tier === undefined ? -1 : tier.count;
    this.#caps = tier?.caps ?? NONE;
    this.#perMs = tier?.perMs ?? NONE;
    this.#initial = tier?.initial ?? NONE;
    this.#resetWhenFull = tier === undefined || tier.resetTo !== undefined;
    this.limits = tier === undefined ? Object.freeze([]) : tier.limits;
    this.capacity = tier === undefined ? NaN : tier.capacity;
    this.fillRate = tier === undefined ? NaN : tier.fillRate;
    this.#keys = new KeySlots(this.#head + (tier?.count ?? 1), this.maxKeys, {
      // A full bucket and a new one behave alike (with initialTokens < capacity, #refill makes
      // them alike): forgetting it changes nothing, unless waiters hold reservations in it.
      forgettable: (slot, now) => this.#isFull(this.#refill(slot, now)) && !this.#hasWaiters(slot),
      inUse: (slot) => this.#hasWaiters(slot),
      forgot: (slot) => this.#waiting.delete(slot),
      init: (slot, now, key) => {
        const id = this.#limitsFor === undefined ? 0 : this.#tierFor(key, this.#limitsFor);
        const state = this.#keys.state;
        const base = slot * this.#keys.stride;
        state[base] = now;
        if (this.#head === 2) state[base + 1] = id;
        state.set(this.#tiers[id]!.initial, base + this.#head);
      },
    });
    // One refill time for all the limits of a key.
    this.#limits = {
      count: (base) => (this.#count >= 0 ? this.#count : this.#tierAt(base).count),
      capacity: (base, i) => (this.#count >= 0 ? this.#caps : this.#tierAt(base).caps)[i]!,
      perMs: (base, i) => (this.#count >= 0 ? this.#perMs : this.#tierAt(base).perMs)[i]!,
      level: (base, i) => this.#keys.state[base + this.#head + i]!,
      last: (base) => this.#keys.state[base]!,
      set: (base, i, level, last) => {
        const state = this.#keys.state;
        state[base + this.#head + i] = level;
        if (i === this.#limits.count(base) - 1) state[base] = last; // after every limit has read the old time
      },
    };
    lockFields<KeyedTokenBucket>(this, ['maxKeys']);
    lockChangeable<KeyedTokenBucket>(this, ['capacity', 'fillRate', 'limits']);
  }

  /** The tier of the slot at `base` (with `limitsFor`). */
  #tierAt(base: number): Tier {
    return this.#tiers[this.#keys.state[base + 1]!]!;
  }

  /** Index of the tier `limitsFor` gives `key`, made if new; widens the slots for a tier with more limits. */
  #tierFor(key: string, limitsFor: LimitsFor): number {
    const limits = check.tierLimits(key, limitsFor(key));
    const id = JSON.stringify(limits.map((l) => [l.capacity, l.fillRate, l.initialTokens]));
    let index = this.#tierIds!.get(id);
    if (index === undefined) {
      index = this.#tiers.length;
      this.#tiers.push(tierOf(limits));
      this.#tierIds!.set(id, index);
      if (2 + limits.length > this.#keys.stride) this.#keys.widen(2 + limits.length);
    }
    return index;
  }

  /**
   * Changes the limits of every key from now on, as Go's `SetLimit`/`SetBurst` do: tokens each
   * key earned up to now count at the old rates, a level above its new capacity is cut to it, and
   * queued waiters are re-timed (they keep their turn and their reservations). Limits are matched
   * by position; one with no counterpart before starts at its `initialTokens`. With `limitsFor`
   * (on a bucket made with it), every remembered key gets its tier anew now, new keys later.
   * Visits every remembered key once.
   */
  setLimits(update: LimitsUpdate | { limitsFor: LimitsFor }): void {
    const now = this.#clock.now();
    let next: (key: string) => number;
    let changed: LimitsFor | undefined;
    if (update !== null && typeof update === 'object' && 'limitsFor' in update && update.limitsFor !== undefined) {
      if (this.#count >= 0) throw new TypeError('setLimits({ limitsFor }) needs a KeyedTokenBucket made with limitsFor (give this one { capacity, fillRate } or { limits })');
      const limitsFor = check.limitsForOption(update);
      next = (key) => this.#tierFor(key, limitsFor);
      changed = limitsFor;
    } else {
      const limits = check.limitsUpdate(update);
      if (this.#count >= 0) {
        const tier = tierOf(limits);
        if (this.#head + tier.count > this.#keys.stride) this.#keys.widen(this.#head + tier.count);
        this.#tiers.push(tier);
        next = () => this.#tiers.length - 1;
      } else {
        const limitsFor = (): readonly Limit[] => limits;
        next = (key) => this.#tierFor(key, limitsFor);
        changed = limitsFor;
      }
    }
    // Every key is settled at its old limits before it takes its new ones.
    const moves: [number, number][] = [];
    for (const [key, slot] of this.#keys.entries()) {
      this.#refill(slot, now);
      moves.push([slot, next(key)]);
    }
    // Only now, so that a limitsFor that throws leaves everything as it was.
    if (changed !== undefined) this.#limitsFor = changed;
    const old = this.#count >= 0 ? this.#tiers[0]! : undefined;
    for (const [slot, id] of moves) {
      const base = slot * this.#keys.stride;
      const s = this.#keys.state;
      const from = old ?? this.#tierAt(base);
      const to = this.#tiers[id]!;
      for (let i = 0; i < to.count; i++) {
        const at = base + this.#head + i;
        s[at] = i < from.count ? Math.min(s[at]!, to.caps[i]!) : to.initial[i]!;
      }
      if (this.#head === 2) s[base + 1] = id;
    }
    if (old !== undefined) {
      const tier = this.#tiers.pop()!;
      this.#tiers[0] = tier;
      this.#count = tier.count;
      this.#caps = tier.caps;
      this.#perMs = tier.perMs;
      this.#initial = tier.initial;
      this.#resetWhenFull = tier.resetTo !== undefined;
      replaceField<KeyedTokenBucket, 'limits'>(this, 'limits', tier.limits);
      replaceField<KeyedTokenBucket, 'capacity'>(this, 'capacity', tier.capacity);
      replaceField<KeyedTokenBucket, 'fillRate'>(this, 'fillRate', tier.fillRate);
    } else {
      this.#dropUnusedTiers();
    }
    for (const host of this.#waiting.values()) host.queue.retime(now);
  }

  /** After a change of tiers: keeps only the tiers some key has (renumbered), so old tiers do not pile up. */
  #dropUnusedTiers(): void {
    const s = this.#keys.state;
    const stride = this.#keys.stride;
    const used = new Map<number, number>();
    const kept: Tier[] = [];
    const ids = new Map<string, number>();
    for (const slot of this.#keys.values()) {
      const old = s[slot * stride + 1]!;
      let id = used.get(old);
      if (id === undefined) {
        id = kept.length;
        used.set(old, id);
        const tier = this.#tiers[old]!;
        kept.push(tier);
        ids.set(JSON.stringify(tier.limits.map((l) => [l.capacity, l.fillRate, l.initialTokens])), id);
      }
      s[slot * stride + 1] = id;
    }
    this.#tiers = kept;
    this.#tierIds = ids;
  }

  /**
   * The limits of `key`'s bucket: the same for every key, or with `limitsFor`, the key's tier
   * (asked of `limitsFor` without remembering the key, if it is not remembered).
   */
  limitsOf(key: string): readonly Readonly<Limit>[] {
    if (typeof key !== 'string') throw badKey(key);
    if (this.#count >= 0) return this.limits;
    const slot = this.#keys.find(key);
    return slot === undefined ? tierOf(check.tierLimits(key, this.#limitsFor!(key))).limits : this.#tierAt(slot * this.#keys.stride).limits;
  }

  /**
   * Takes `n` tokens (default 1) from `key`'s bucket at once, even if that leaves it below 0: the
   * key is refused until time has paid the debt back (a penalty for abuse). Throws if the key is
   * new and every remembered key has waiters (`maxKeys`): there is nowhere to keep the debt.
   */
  penalize(key: string, n = 1): void {
    this.#adjust(key, n, -1);
  }

  /** Gives `n` tokens (default 1) to `key`'s bucket, never above capacity; its queued waiters that now have their tokens are served. */
  reward(key: string, n = 1): void {
    this.#adjust(key, n, 1);
  }

  #adjust(key: string, n: number, sign: 1 | -1): void {
    if (typeof key !== 'string') throw badKey(key);
    check.tokens(n);
    if (n === 0) return;
    const now = this.#clock.now();
    const slot = this.#keys.slotOf(key, now);
    if (slot < 0) {
      if (sign > 0) return; // a key not remembered is full: nothing to give
      throw new RangeError(`cannot penalize ${JSON.stringify(key)}: all maxKeys (${this.maxKeys}) keys have queued waiters, so a new key cannot be kept`);
    }
    refund(this.#limits, this.#refill(slot, now), sign * n, now);
    if (sign > 0) this.#waiting.get(slot)?.queue.pump(now);
  }

  /** Callers waiting in `acquire` now, over every key (what `maxWaiting` bounds). */
  get waiting(): number {
    return this.#waiters;
  }

  /** Keys remembered now (buckets not yet known to be full, or not yet swept). */
  get size(): number {
    return this.#keys.size;
  }

  /**
   * Takes `n` tokens (default 1) from `key`'s bucket and returns `true`, or takes nothing and
   * returns `false`. With `block: true` it waits until the tokens are there, **blocking the
   * thread** (as `TokenBucket.consume` does; prefer `acquire()` in servers), and returns `false`
   * at once if the wait would exceed `maxWait` ms or never end. `n > capacity` returns `false`,
   * or throws `RangeError` with `block`. A bad key or `n` throws `TypeError`/`RangeError`.
   */
  consume(key: string, n = 1, options?: ConsumeOptions): boolean {
    const taken = this.#consume(key, n, options);
    if (decisionChannel.hasSubscribers) publishDecision(this, key, n, taken);
    return taken;
  }

  #consume(key: string, n: number, options: ConsumeOptions | undefined): boolean {
    if (typeof key !== 'string') throw badKey(key);
    if (typeof n !== 'number' || !(n >= 0) || n === Infinity) check.tokens(n);
    if (options !== undefined) {
      const { block, maxWait } = check.consumeOptions(options);
      if (block) return this.#blockingTake(key, n, maxWait);
    }
    if (n > this.capacity) return false;
    const now = this.#clock.now();
    const slot = this.#keys.slotOf(key, now);
    if (n === 0) return true; // even while waiters hold the level below 0
    if (slot < 0) return false;
    const base = this.#refill(slot, now);
    const s = this.#keys.state;
    if (this.#count === 1) {
      const level = s[base + 1]!;
      if (!covers(level, n, this.#perMs[0]!, now)) return false;
      s[base + 1] = level - n;
      return true;
    }
    return reserve(this.#limits, base, n, 0, now) === 0;
  }

  /**
   * Takes `n` tokens (default 1) from `key`'s bucket if they are all there now, without waiting,
   * and returns the whole decision: whether they were taken, what each limit holds after it, how
   * long until the same request could pass and until the bucket is full again. `n > capacity` is
   * a refused decision with `retryAfter: Infinity`.
   */
  take(key: string, n = 1): Decision {
    if (typeof key !== 'string') throw badKey(key);
    check.tokens(n);
    const now = this.#clock.now();
    const slot = this.#keys.slotOf(key, now);
    // No room for a new key (every remembered key has waiters): refused, levels unknown.
    let decision: Decision;
    if (slot < 0) {
      decision = blindDecision(n === 0, n === 0 ? 0 : this.#noRoomWait(now), this.limitsOf(key));
    } else {
      const base = this.#refill(slot, now);
      const tier = this.#count >= 0 ? undefined : this.#tierAt(base);
      decision = decide(this.#limits, base, n, tier?.capacity ?? this.capacity, now, tier?.limits ?? this.limits);
    }
    if (decisionChannel.hasSubscribers) publishDecision(this, key, n, decision.allowed);
    return decision;
  }

  /**
   * Waits (without blocking the event loop) until `n` tokens of `key`'s bucket are taken.
   * Rejects with {@link RateLimitExceeded} when the wait would exceed `maxWait` (`maxWait: 0`
   * is the non-waiting form that reports `retryAfter`), with `signal.reason` on abort (giving its
   * tokens back), with `RangeError` if `n > capacity`. Waiters of one key are served first come,
   * first served, with one timer per key that has waiters.
   */
  acquire(key: string, n = 1, options?: AcquireOptions): Promise<void> {
    let waited: Promise<void>;
    try {
      waited = this.#acquire(key, n, options);
    } catch (error) {
      waited = Promise.reject(error);
    }
    return decisionChannel.hasSubscribers ? watchWait(this, key, n, this.#clock, waited) : waited;
  }

  /**
   * Milliseconds until `key`'s bucket would have `n` tokens (0 if now; `Infinity` if never,
   * as for `n > capacity` or a spent fixed quota). Remembers nothing for an unknown key.
   */
  timeUntil(key: string, n = 1): number {
    if (typeof key !== 'string') throw badKey(key);
    check.tokens(n);
    if (n > this.capacity) return Infinity;
    const now = this.#clock.now();
    const slot = this.#keys.find(key);
    if (slot === undefined) {
      const tier = this.#count >= 0 ? this.#tiers[0]! : tierOf(check.tierLimits(key, this.#limitsFor!(key)));
      if (n > tier.capacity) return Infinity;
      let wait = 0;
      for (let i = 0; i < tier.count; i++) wait = Math.max(wait, waitFor(tier.initial[i]!, n, tier.perMs[i]!, now));
      return wait;
    }
    const base = this.#refill(slot, now);
    if (this.#count < 0 && n > this.#tierAt(base).capacity) return Infinity;
    return waitAll(this.#limits, base, n, now);
  }

  /**
   * Tokens in `key`'s bucket now (with several limits, the lowest level): `initialTokens` for
   * a key not remembered; below 0 while its queued waiters hold reservations.
   */
  tokens(key: string): number {
    if (typeof key !== 'string') throw badKey(key);
    const slot = this.#keys.find(key);
    if (slot === undefined) return Math.min(...this.limitsOf(key).map((l) => l.initialTokens ?? l.capacity));
    return lowest(this.#limits, this.#refill(slot, this.#clock.now()));
  }

  /**
   * Forgets `key`'s bucket: its next request starts a new one at `initialTokens`. Returns
   * `false` if the key was not remembered, or if it has queued waiters (they hold reservations
   * in its bucket, so it is kept).
   */
  delete(key: string): boolean {
    if (typeof key !== 'string') throw badKey(key);
    const slot = this.#keys.find(key);
    if (slot === undefined || this.#hasWaiters(slot)) return false;
    this.#keys.forget(key, slot);
    return true;
  }

  #acquire(key: string, n: number, options: AcquireOptions | undefined): Promise<void> {
    if (typeof key !== 'string') throw badKey(key);
    check.tokens(n);
    const { maxWait, signal } = options === undefined ? NO_LIMIT : check.acquireOptions(options);
    if (n > this.capacity) throw neverFits(n, this.capacity);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const now = this.#clock.now();
    const slot = this.#keys.slotOf(key, now);
    if (n === 0) return Promise.resolve();
    if (slot < 0) throw new RateLimitExceeded(this.#noRoomWait(now), `rate limit exceeded: all maxKeys (${this.maxKeys}) keys have queued waiters`);
    if (this.#count < 0) this.#checkFits(slot, n);
    let host = this.#waiting.get(slot);
    // Waiters whose tokens are earned but whose timer has not fired yet resolve before us.
    if (host !== undefined && host.queue.size > 0) host.queue.pump(now);
    // Reserved now, so later requests see the debt and cannot overtake.
    const full = this.#waiters >= this.#maxWaiting;
    const wait = reserve(this.#limits, this.#refill(slot, now), n, full ? 0 : maxWait, now);
    if (wait === 0) return Promise.resolve();
    const refused = refusalOf(wait, maxWait, full, this.#maxWaiting);
    if (refused !== undefined) throw refused;
    if (host === undefined) {
      host = this.#host(slot);
      this.#waiting.set(slot, host);
    }
    this.#waiters++;
    return host.queue.enqueue(n, now + wait, signal);
  }

  #blockingTake(key: string, n: number, maxWait: number): boolean {
    if (n > this.capacity) throw neverFits(n, this.capacity);
    const now = this.#clock.now();
    const slot = this.#keys.slotOf(key, now);
    if (n === 0) return true;
    if (slot < 0) return false;
    if (this.#count < 0) this.#checkFits(slot, n);
    const base = this.#refill(slot, now);
    const wait = waitAll(this.#limits, base, n, now);
    if (wait === Infinity || wait > maxWait) return false;
    if (wait > 0) checkCanSleep(this.#clock);
    addAll(this.#limits, base, -n);
    sleepSync(wait);
    return true;
  }

  /** When every key has waiters: the time until the first of them has served all of its own. */
  #noRoomWait(now: number): number {
    let soonest = Infinity;
    for (const slot of this.#keys.values()) soonest = Math.min(soonest, waitAll(this.#limits, this.#refill(slot, now), 0, now));
    return soonest;
  }

  #hasWaiters(slot: number): boolean {
    const host = this.#waiting.get(slot);
    if (host === undefined) return false;
    if (host.queue.size > 0) return true;
    this.#waiting.delete(slot); // its queue drained since: drop the host lazily
    return false;
  }

  /**
   * Refills every limit of `slot` to `now` and returns the slot's offset in the state array.
   * A clock that went backwards adds nothing. With `initialTokens < capacity`, a bucket that has
   * refilled to full (and holds no reservations) is a new bucket again.
   */
  #refill(slot: number, now: number): number {
    const s = this.#keys.state;
    const base = slot * this.#keys.stride;
    const last = s[base]!;
    if (now > last) {
      if (this.#count === 1) {
        // The hot path of every keyed consume: the core's advance written out for one limit.
        s[base] = now;
        s[base + 1] = refill(s[base + 1]!, last, now, this.#caps[0]!, this.#perMs[0]!);
      } else {
        advance(this.#limits, base, now);
      }
      if (this.#resetWhenFull) {
        const resetTo = this.#count >= 0 ? this.#initial : this.#tierAt(base).resetTo;
        if (resetTo !== undefined && this.#isFull(base) && !this.#hasWaiters(slot)) s.set(resetTo, base + this.#head);
      }
    }
    return base;
  }

  /** With `limitsFor`: `n` above the capacity of `slot`'s tier can never be served (`RangeError`). */
  #checkFits(slot: number, n: number): void {
    const capacity = this.#tierAt(slot * this.#keys.stride).capacity;
    if (n > capacity) throw neverFits(n, capacity);
  }

  // Exact, not within EPSILON: refill stops at exactly the capacity, and forgetting a bucket a hair
  // below it would hand that hair back (over and over, with a rate of 0).
  #isFull(base: number): boolean {
    const s = this.#keys.state;
    const caps = this.#count >= 0 ? this.#caps : this.#tierAt(base).caps;
    for (let i = 0; i < caps.length; i++) if (s[base + this.#head + i]! < caps[i]!) return false;
    return true;
  }

  /** A queue host for one key's waiters. Its slot is stable: keys with waiters are never forgotten. */
  #host(slot: number): KeyWaiters {
    const host: KeyWaiters = {
      clock: this.#clock,
      queue: undefined as unknown as WaiterQueue,
      // Queued reservations are already out of the levels: the head is served once a level
      // plus what the queue holds covers it.
      serve: (n, at, now) => headWait(this.#limits, this.#refill(slot, now), n, at, now, host.queue.owed),
      release: (n) => addAll(this.#limits, this.#refill(slot, this.#clock.now()), n),
      left: () => {
        this.#waiters--;
      },
    };
    (host as { queue: WaiterQueue }).queue = new WaiterQueue(host, false); // the levels tell when the head's tokens are earned
    return host;
  }
}

markKind(KeyedTokenBucket, 'keyed');

const NO_LIMIT = { maxWait: Infinity, signal: undefined } as const;
const NONE = new Float64Array(0);

function badKey(key: unknown): TypeError {
  const shown = typeof key === 'symbol' ? 'a symbol' : typeof key === 'object' && key !== null ? 'an object' : String(key);
  return new TypeError(`key must be a string, got ${typeof key === 'number' ? `the number ${shown}` : shown}`);
}

function checkMaxKeys(value: unknown): number {
  if (value === undefined) return Infinity;
  if (typeof value !== 'number') throw new TypeError(`maxKeys must be a number, got ${typeof value === 'string' ? JSON.stringify(value) : typeof value}`);
  if (value !== Infinity && !(Number.isInteger(value) && value >= 1)) {
    throw new RangeError(`maxKeys must be an integer >= 1 (or Infinity), got ${value}`);
  }
  return value;
}
