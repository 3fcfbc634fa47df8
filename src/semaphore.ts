import { checkClock, type Clock } from './clock.js';
import { RateLimitExceeded } from './errors.js';
import { decisionChannel, publishDecision, watchWait } from './events.js';
import { markKind } from './kinds.js';
import type { AcquireOptions } from './types.js';
import * as check from './validate.js';
import { WaiterQueue, type QueueHost } from './waiting/waiter-queue.js';

/** Options of {@link Semaphore}. */
export interface SemaphoreOptions {
  /** How many holders at once: an integer >= 1. */
  limit: number;
  /** Times `maxWait` (default `performance.now()`); a `ManualClock` lets tests drive it. */
  clock?: Clock;
  /** Most callers that may wait for a slot at once; past it, an acquire that would wait is refused. Default: unbounded. */
  maxWaiting?: number;
}

/** A held slot of a {@link Semaphore}. Releasing twice is harmless; `using` releases it at the end of the scope. */
export interface Lease {
  /** Frees the slot for the next waiter (or anyone). Idempotent. */
  release(): void;
  /** Whether {@link Lease.release} was called. */
  readonly released: boolean;
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;
}

const KEYS = ['limit', 'clock', 'maxWaiting'] as const;
const NO_WAIT = { maxWait: Infinity, signal: undefined } as const;

/** Frees a slot of `semaphore` (set in Semaphore's static block: it reaches private fields). */
let releaseSlot: (semaphore: Semaphore) => void;

class SemaphoreLease implements Lease {
  #semaphore: Semaphore | undefined;

  constructor(semaphore: Semaphore) {
    this.#semaphore = semaphore;
  }

  get released(): boolean {
    return this.#semaphore === undefined;
  }

  release(): void {
    const semaphore = this.#semaphore;
    if (semaphore === undefined) return;
    this.#semaphore = undefined;
    releaseSlot(semaphore);
  }

  [Symbol.dispose](): void {
    this.release();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.release();
    return Promise.resolve();
  }
}

/**
 * At most `limit` holders at once, in one process. Waiters are served first come, first served,
 * with one timer for all their `maxWait`s however many wait; an `AbortSignal` cancels a wait.
 *
 * @example
 * const sem = new Semaphore({ limit: 5 });
 * const lease = await sem.acquire({ maxWait: 1000 });
 * try { await work(); } finally { lease.release(); }
 * // or: await sem.run(() => work());
 */
export class Semaphore {
  /** How many holders at once. */
  readonly limit: number;
  readonly #clock: Clock;
  #inUse = 0;
  readonly #queue: WaiterQueue;
  readonly #maxWaiting: number;
  readonly #newLease = (): Lease => new SemaphoreLease(this);

  static {
    releaseSlot = (semaphore) => {
      semaphore.#inUse--;
      if (semaphore.#queue.size > 0) semaphore.#queue.pump(semaphore.#clock.now());
    };
  }

  constructor(options: SemaphoreOptions) {
    const o = check.required<SemaphoreOptions>(options, KEYS, '{ limit }');
    if (o.limit === undefined) throw new TypeError('limit is required: how many holders at once (an integer >= 1)');
    this.limit = checkLimit(o.limit);
    this.#clock = checkClock('clock', o.clock);
    this.#maxWaiting = check.maxWaiting(o.maxWaiting);
    const host: QueueHost = {
      clock: this.#clock,
      serve: () => {
        if (this.#inUse >= this.limit) return Infinity; // a release pumps the queue
        this.#inUse++;
        return 0;
      },
      release: () => {}, // a waiter holds nothing until it is served
      timedOut: () => this.#refusal('no slot came free within maxWait'),
    };
    this.#queue = new WaiterQueue(host, false);
    Object.defineProperty(this, 'limit', { writable: false, configurable: false });
  }

  /** Slots held now. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.#queue.size;
  }

  /**
   * A slot now, or `undefined` without waiting: when all are held, or while anyone waits (a freed
   * slot is theirs first).
   */
  tryAcquire(): Lease | undefined {
    const lease = this.#take();
    if (decisionChannel.hasSubscribers) publishDecision(this, undefined, 1, lease !== undefined);
    return lease;
  }

  #take(): Lease | undefined {
    if (this.#inUse >= this.limit || this.#queue.size > 0) return undefined;
    this.#inUse++;
    return new SemaphoreLease(this);
  }

  /**
   * Resolves a {@link Lease} once a slot is free and every earlier waiter has had one. Rejects
   * with `RateLimitExceeded` if none comes free within `maxWait` ms (`maxWait: 0`: at once when
   * full; its `retryAfter` is 0, as a slot frees whenever a holder releases), with `signal.reason`
   * on abort (the waiter leaves the queue).
   */
  acquire(options?: AcquireOptions): Promise<Lease> {
    const waited = this.#acquire(options);
    return decisionChannel.hasSubscribers ? watchWait(this, undefined, 1, this.#clock, waited) : waited;
  }

  #acquire(options: AcquireOptions | undefined): Promise<Lease> {
    try {
      const { maxWait, signal } = options === undefined ? NO_WAIT : check.acquireOptions(options);
      if (signal?.aborted) return Promise.reject(signal.reason);
      const lease = this.#take();
      if (lease !== undefined) return Promise.resolve(lease);
      if (maxWait === 0) return Promise.reject(this.#refusal('all slots are held'));
      if (this.#queue.size >= this.#maxWaiting) return Promise.reject(this.#refusal(`${this.#maxWaiting} callers already wait (maxWaiting)`));
      return this.#queue.enqueue(1, Infinity, signal, this.#clock.now() + maxWait).then(this.#newLease);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Acquires a slot (as {@link Semaphore.acquire}), calls `fn` with the lease, and releases the slot
   * when `fn`'s result settles, whether it resolves, rejects or throws. Resolves with `fn`'s result.
   */
  async run<T>(fn: (lease: Lease) => T | PromiseLike<T>, options?: AcquireOptions): Promise<Awaited<T>> {
    if (typeof fn !== 'function') throw new TypeError(`run needs a function, got ${check.show(fn)}`);
    const lease = await this.acquire(options);
    try {
      return await fn(lease);
    } finally {
      lease.release();
    }
  }

  #refusal(why: string): RateLimitExceeded {
    return new RateLimitExceeded(0, `concurrency limit reached: ${why} (limit ${this.limit}, ${this.#inUse} in use, ${this.#queue.size} waiting)`);
  }
}

markKind(Semaphore, 'semaphore');

/** Checks a semaphore's `limit` (or what stands for it, named `name`): an integer >= 1. */
export function checkLimit(value: unknown, name = 'limit'): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number (how many holders at once), got ${check.show(value)}`);
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be an integer >= 1, got ${check.show(value)}`);
  return value;
}
