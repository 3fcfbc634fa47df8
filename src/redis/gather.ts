// Non-waiting takes of one key made in the same tick, gathered into one script call: concurrent
// callers of a bucket then cost the server one script run, not one each (each caller still waits
// one round trip; the server decides the requests one after the other, in call order, exactly as
// separate calls).

import type { FailureAnswer } from './failure-policy.js';
import type { RedisTarget } from './target.js';

/** The takes gathered on one key, in call order. */
export class Batch {
  readonly t: RedisTarget;
  /** Per request: n, resolve, failure answer. One flat array, as most batches hold one request. */
  readonly #requests: unknown[] = [];

  constructor(t: RedisTarget) {
    this.t = t;
  }

  get size(): number {
    return this.#requests.length / 3;
  }

  /** Tokens request `i` wants. */
  n(i: number): number {
    return this.#requests[3 * i] as number;
  }

  add(n: number, answer: FailureAnswer): Promise<boolean> {
    const requests = this.#requests;
    return new Promise<boolean>((resolve) => {
      requests.push(n, resolve, answer);
    });
  }

  /** Answers request `i`: taken or refused. */
  answer(i: number, taken: boolean): void {
    (this.#requests[3 * i + 1] as Resolve)(taken);
  }

  /** Answers every request as its failure policy says. */
  fail(error: unknown): void {
    const requests = this.#requests;
    for (let i = 0; i < requests.length; i += 3) {
      (requests[i + 1] as Resolve)((requests[i + 2] as FailureAnswer).take(error, requests[i] as number));
    }
  }
}

type Resolve = (taken: boolean | Promise<boolean>) => void;

/** Gathers takes per key until the tick's promise jobs have run, then hands each batch to `send`. */
export class Gatherer {
  #batches = new Map<string, Batch>();
  readonly #send: (batch: Batch) => void;

  constructor(send: (batch: Batch) => void) {
    this.#send = send;
  }

  /** A take of `n` tokens from the one key of `t` (with one limit), decided with the others of this tick. */
  add(t: RedisTarget, n: number, answer: FailureAnswer): Promise<boolean> {
    const key = t.keys[0]!;
    let batch = this.#batches.get(key);
    if (batch === undefined) {
      if (this.#batches.size === 0) process.nextTick(this.#flush);
      batch = new Batch(t);
      this.#batches.set(key, batch);
    }
    return batch.add(n, answer);
  }

  /**
   * Sends the takes still gathering on `keys` now, before another command on them: this
   * process's commands reach a key in the order they were made.
   */
  sendFirst(keys: readonly string[]): void {
    if (this.#batches.size === 0) return;
    for (const key of keys) {
      const batch = this.#batches.get(key);
      if (batch === undefined) continue;
      this.#batches.delete(key);
      this.#send(batch);
    }
  }

  /**
   * Sends every batch. A nextTick queued from a promise job runs once all promise jobs have run,
   * so callers woken together by one socket read of replies end up in one batch.
   */
  readonly #flush = (): void => {
    const batches = this.#batches;
    this.#batches = new Map();
    for (const batch of batches.values()) this.#send(batch);
  };
}
