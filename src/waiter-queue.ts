import { schedule, type Clock, type ClockTimer } from './clock.js';
import { RateLimitExceeded } from './errors.js';

/**
 * What a bucket tells its queue. `serve` is asked about the head waiter only, so a later small
 * request can never overtake an earlier large one (strict FIFO).
 */
export interface QueueHost {
  readonly clock: Clock;
  /** Hands `n` tokens to the head waiter if it can have them now (returns 0), else ms still to wait. */
  serve(n: number, now: number): number;
  /** A queued waiter gave up (abort, deadline): give back whatever it held. */
  release(n: number): void;
}

interface Waiter {
  readonly n: number;
  readonly deadline: number;
  resolve: (() => void) | undefined; // undefined once settled
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

// One executor for every waiter's promise (no closure per waiter): it hands out its resolvers here.
let nextResolve: () => void = () => {};
let nextReject: (error: unknown) => void = () => {};
const capture = (resolve: () => void, reject: (error: unknown) => void): void => {
  nextResolve = resolve;
  nextReject = reject;
};

/**
 * FIFO waiters of one bucket with a single timer for the head, however many wait: 10,000
 * waiters are 10,000 small objects and one timer, not 10,000 timers.
 */
export class WaiterQueue {
  readonly #host: QueueHost;
  #items: Waiter[] = [];
  #head = 0;
  #live = 0;
  #owed = 0;
  #timer: ClockTimer | undefined;
  /** The head the timer was armed for: while it stays head its wait can only grow, so the timer stays. */
  #armedFor: Waiter | undefined;
  #pumpQueued = false;
  readonly #wake = (): void => {
    this.#timer = undefined;
    this.pump(this.#host.clock.now());
  };
  readonly #deferredPump = (): void => {
    this.#pumpQueued = false;
    this.pump(this.#host.clock.now());
  };

  constructor(host: QueueHost) {
    this.#host = host;
  }

  /** Waiters still waiting. */
  get size(): number {
    return this.#live;
  }

  /** Tokens the waiters still waiting have asked for. */
  get owed(): number {
    return this.#owed;
  }

  /**
   * Queues a waiter for `n` tokens. It resolves when the host serves it; rejects with
   * `signal.reason` on abort, or with {@link RateLimitExceeded} if it is still not served
   * when its wait would pass `deadline` (clock time).
   */
  enqueue(n: number, deadline: number, signal: AbortSignal | undefined): Promise<void> {
    const promise = new Promise<void>(capture);
    const waiter: Waiter = { n, deadline, resolve: nextResolve, reject: nextReject, signal, onAbort: undefined };
    if (signal !== undefined) {
      waiter.onAbort = () => this.#cancel(waiter, signal.reason);
      signal.addEventListener('abort', waiter.onAbort, { once: true });
    }
    this.#items.push(waiter);
    this.#live++;
    this.#owed += n;
    if (this.#live === 1) this.pump(this.#host.clock.now());
    return promise;
  }

  /** Serves every head waiter that can be served now, then arms one timer for the next. */
  pump(now: number): void {
    for (;;) {
      const head = this.#peek();
      if (head === undefined) {
        this.#timer?.cancel();
        this.#timer = undefined;
        this.#armedFor = undefined;
        return;
      }
      const wait = this.#host.serve(head.n, now);
      if (wait === 0) {
        this.#finish(head, true, undefined);
      } else if (now + wait > head.deadline) {
        this.#host.release(head.n);
        this.#finish(head, false, new RateLimitExceeded(wait));
      } else {
        // Every acquire pumps the queue; re-arming each time would create one timer per waiter.
        // Nothing but time adds tokens for an unchanged head (an early wake just re-arms).
        if (this.#timer !== undefined && this.#armedFor === head) return;
        this.#timer?.cancel();
        this.#armedFor = head;
        this.#timer = schedule(this.#host.clock, wait, this.#wake);
        return;
      }
    }
  }

  #peek(): Waiter | undefined {
    const items = this.#items;
    while (this.#head < items.length) {
      const w = items[this.#head]!;
      if (w.resolve !== undefined) return w;
      this.#head++; // settled out of turn (aborted): skip its slot
    }
    if (this.#head > 0) {
      this.#items = [];
      this.#head = 0;
    }
    return undefined;
  }

  #finish(waiter: Waiter, ok: boolean, error: unknown): void {
    const resolve = waiter.resolve!;
    waiter.resolve = undefined;
    this.#live--;
    this.#owed = this.#live === 0 ? 0 : this.#owed - waiter.n; // 0 exactly when empty: no float residue
    if (waiter.onAbort !== undefined) waiter.signal!.removeEventListener('abort', waiter.onAbort);
    waiter.signal = undefined;
    waiter.onAbort = undefined;
    if (this.#items[this.#head] === waiter) this.#head++;
    // Keep the backing array from holding thousands of served slots.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    if (ok) resolve();
    else waiter.reject(error);
  }

  #cancel(waiter: Waiter, reason: unknown): void {
    if (waiter.resolve === undefined) return;
    const wasHead = this.#peek() === waiter;
    this.#host.release(waiter.n);
    this.#finish(waiter, false, reason);
    // One abort signal often cancels many waiters in a row: re-arm once for the new head, not per abort.
    if (wasHead && !this.#pumpQueued) {
      this.#pumpQueued = true;
      queueMicrotask(this.#deferredPump);
    }
  }
}
