import { schedule, type Clock, type ClockTimer } from '../clock.js';
import { offAbort, onAbort } from './abort.js';
import { TimeHeap } from './time-heap.js';

/**
 * What a bucket tells its queue. Every waiter has reserved its tokens when it queued; `serve` is
 * asked about the head waiter only, so a later small request can never overtake an earlier large
 * one (strict FIFO).
 */
export interface QueueHost {
  readonly clock: Clock;
  /**
   * 0 if the head waiter (`n` tokens, reserved to be earned at clock time `at`) has its tokens
   * now, else the ms still to wait: `Infinity` when only the host can tell (it pumps the queue
   * when that changes). A host may serve before `at` when it can tell the tokens came sooner (a
   * waiter ahead gave its reservation back).
   */
  serve(n: number, at: number, now: number): number;
  /** A queued waiter gave up (abort, or its deadline passed): give back its reservation of `n` tokens. */
  release(n: number): void;
  /** A waiter left the queue (served, refused or aborted): for hosts that count waiters across queues. */
  left?(): void;
  /**
   * What a waiter whose deadline passed is rejected with. Only hosts that queue waiters with a
   * deadline (whose wait is not known when they queue) need it.
   */
  timedOut?(n: number): unknown;
}

/** What only some waiters have: an abort signal. */
interface RareParts {
  readonly signal: AbortSignal;
  readonly cancel: () => void;
}

type Resolve = (value: void | PromiseLike<void>) => void;

// One executor for every waiter's promise (no closure per waiter): it hands out its resolve
// function here. The reject function is not kept: a waiter is refused by resolving it with a
// rejected promise, which saves a function object per waiter.
let nextResolve: Resolve = () => {};
const capture = (resolve: Resolve): void => {
  nextResolve = resolve;
};

/**
 * FIFO waiters of one bucket with a single timer for the head, however many wait: 10,000
 * waiters are 10,000 promises and one timer, not 10,000 timers.
 *
 * Memory per waiter is what the caller's promise needs anyway (the promise, its resolve
 * function and their context) plus two array slots: the waiters are kept in columns
 * (`#resolves`, `#ns`, and `#ats` for hosts that need the ready times), not as one object each;
 * the few with an abort signal have it in `#rare`, by sequence number.
 */
export class WaiterQueue {
  readonly #host: QueueHost;
  /** Per waiter, by index: its resolve function (undefined once settled), token count and ready time. */
  #resolves: (Resolve | undefined)[] = [];
  #ns: number[] = [];
  /** Ready times, kept only for hosts that ask (the others are told `Infinity`). */
  #ats: number[] | undefined;
  /** Sequence number of index 0: a waiter's sequence number never changes while slots are dropped. */
  #base = 0;
  #head = 0;
  #live = 0;
  #owed = 0;
  #rare: Map<number, RareParts> | undefined;
  /** Sequence numbers of the waiters with a deadline, by deadline (entries of settled waiters go stale). */
  #deadlines: TimeHeap<number> | undefined;
  #timer: ClockTimer | undefined;
  /**
   * Clock time the timer fires at. A timer due no later than needed stays: nothing but time
   * serves an unchanged head, and a wake that comes early only re-arms.
   */
  #timerAt = Infinity;
  /** The head (sequence number) the timer was armed for: while it stays head, its wait can only grow. */
  #armedFor = -1;
  #pumpQueued = false;
  readonly #wake = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#armedFor = -1;
    this.pump(this.#host.clock.now());
  };
  readonly #deferredPump = (): void => {
    this.#pumpQueued = false;
    this.pump(this.#host.clock.now());
  };

  /** @param keepReadyTimes whether `serve` needs each waiter's ready time, or can tell from the levels */
  constructor(host: QueueHost, keepReadyTimes: boolean) {
    this.#host = host;
    if (keepReadyTimes) this.#ats = [];
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
   * Queues a waiter that has reserved `n` tokens, earned at clock time `at`. It resolves when the
   * host serves it, or rejects with `signal.reason` on abort, or with the host's `timedOut(n)` if
   * it is still waiting at clock time `deadline` (its reservation goes back either way).
   */
  enqueue(n: number, at: number, signal: AbortSignal | undefined, deadline = Infinity): Promise<void> {
    const promise = new Promise<void>(capture);
    const seq = this.#base + this.#resolves.length;
    if (deadline !== Infinity) (this.#deadlines ??= new TimeHeap()).push(deadline, seq);
    this.#resolves.push(nextResolve);
    this.#ns.push(n);
    this.#ats?.push(at);
    if (signal !== undefined) {
      const rare: RareParts = { signal, cancel: () => this.#cancel(seq, signal.reason) };
      onAbort(signal, rare.cancel);
      (this.#rare ??= new Map()).set(seq, rare);
    }
    this.#live++;
    this.#owed += n;
    if (this.#live === 1) this.pump(this.#host.clock.now());
    else if (deadline < this.#timerAt) this.#arm(deadline, this.#host.clock.now());
    return promise;
  }

  /** Serves every head waiter that can be served now, then arms one timer for the next. */
  pump(now: number): void {
    for (;;) {
      const head = this.#peek();
      if (head < 0) {
        this.#timer?.cancel();
        this.#timer = undefined;
        this.#timerAt = Infinity;
        this.#armedFor = -1;
        this.#deadlines?.clear(); // only settled waiters' entries are left
        return;
      }
      const wait = this.#host.serve(this.#ns[head]!, this.#ats === undefined ? Infinity : this.#ats[head]!, now);
      if (wait === 0) {
        this.#finish(head, true, undefined);
        continue;
      }
      // A waiter whose deadline passed leaves first (it may be the head: look again).
      if (this.#deadlines !== undefined && this.#expire(now)) continue;
      const deadline = this.#nextDeadline();
      const seq = this.#base + head;
      if (this.#timer !== undefined && this.#armedFor === seq && this.#timerAt <= deadline) return;
      this.#arm(Math.min(now + wait, deadline), now);
      this.#armedFor = seq;
      return;
    }
  }

  /**
   * The host's rates changed: the timer armed for the head may now be too late (or, for a host
   * that keeps ready times, the times too early). Each kept ready time becomes `readyAt(at)`; then
   * the queue is pumped anew. Waiters keep their order and their reservations.
   */
  retime(now: number, readyAt?: (at: number) => number): void {
    const ats = this.#ats;
    if (ats !== undefined && readyAt !== undefined) {
      for (let i = this.#head; i < ats.length; i++) if (this.#resolves[i] !== undefined) ats[i] = readyAt(ats[i]!);
    }
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#armedFor = -1;
    this.pump(now);
  }

  /**
   * Makes sure the one timer fires by clock time `at`: every acquire pumps the queue, and
   * re-arming each time would create one timer per waiter.
   */
  #arm(at: number, now: number): void {
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = at;
    this.#armedFor = -1;
    if (at !== Infinity) this.#timer = schedule(this.#host.clock, at - now, this.#wake);
  }

  /** Index of a waiter by sequence number, or -1 if it has settled. */
  #indexOf(seq: number): number {
    const index = seq - this.#base;
    return index >= 0 && this.#resolves[index] !== undefined ? index : -1;
  }

  /** The earliest deadline of a waiter still waiting (`Infinity` if none); drops settled waiters' entries. */
  #nextDeadline(): number {
    const deadlines = this.#deadlines;
    if (deadlines === undefined) return Infinity;
    while (deadlines.size > 0 && this.#indexOf(deadlines.peek()!) < 0) deadlines.pop();
    return deadlines.nextAt;
  }

  /** Refuses every waiter whose deadline is `now` or earlier; whether there was one. */
  #expire(now: number): boolean {
    let expired = false;
    while (this.#nextDeadline() <= now) {
      const index = this.#indexOf(this.#deadlines!.pop()!);
      const n = this.#ns[index]!;
      this.#host.release(n);
      this.#finish(index, false, this.#host.timedOut!(n));
      expired = true;
    }
    return expired;
  }

  /** Index of the first waiter still waiting, or -1. */
  #peek(): number {
    const resolves = this.#resolves;
    while (this.#head < resolves.length) {
      if (resolves[this.#head] !== undefined) return this.#head;
      this.#head++; // settled out of turn (aborted): skip its slot
    }
    if (this.#head > 0) {
      this.#base += resolves.length;
      this.#resolves = [];
      this.#ns = [];
      if (this.#ats !== undefined) this.#ats = [];
      this.#head = 0;
    }
    return -1;
  }

  #finish(index: number, ok: boolean, error: unknown): void {
    const resolve = this.#resolves[index]!;
    this.#resolves[index] = undefined;
    this.#live--;
    this.#owed = this.#live === 0 ? 0 : this.#owed - this.#ns[index]!; // 0 exactly when empty: no float residue
    const seq = this.#base + index;
    const rare = this.#rare?.get(seq);
    if (rare !== undefined) {
      this.#rare!.delete(seq);
      offAbort(rare.signal, rare.cancel);
    }
    if (index === this.#head) this.#head++;
    this.#host.left?.();
    // Keep the columns from holding thousands of served slots.
    if (this.#head > 1024 && this.#head * 2 > this.#resolves.length) {
      this.#resolves = this.#resolves.slice(this.#head);
      this.#ns = this.#ns.slice(this.#head);
      if (this.#ats !== undefined) this.#ats = this.#ats.slice(this.#head);
      this.#base += this.#head;
      this.#head = 0;
    }
    resolve(ok ? undefined : Promise.reject(error));
  }

  #cancel(seq: number, reason: unknown): void {
    const index = this.#indexOf(seq);
    if (index < 0) return;
    const wasHead = this.#peek() === index;
    this.#host.release(this.#ns[index]!);
    this.#finish(index, false, reason);
    // One abort signal often cancels many waiters in a row: re-arm once for the new head, not per abort.
    if (wasHead && !this.#pumpQueued) {
      this.#pumpQueued = true;
      queueMicrotask(this.#deferredPump);
    }
  }
}
