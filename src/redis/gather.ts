// Non-waiting takes of one limiter made in the same tick, gathered into one script call: concurrent
// callers then cost the server one script run, not one each (each caller still waits one round
// trip; the server decides the requests one after the other, in call order, exactly as separate
// calls would be decided). On a Redis Cluster a script may only touch keys of one hash slot, so
// takes are gathered per slot.

import type { Decision } from '../types.js';
import type { FailureAnswer } from './failure-policy.js';
import { isOneKeyOneLimit, type RedisTarget } from './target.js';

/** The takes gathered for one script call, in call order. */
export class Batch {
  /**
   * The limit arguments every request shares while each is on one key with one limit (the lean
   * script can carry the batch), or `undefined` once one is not.
   */
  sharedLimit: readonly string[] | undefined;
  /** The one key of every request so far, or `undefined` once the batch holds several keys. */
  oneKey: string | undefined;
  /** Per request: target, n, resolve, failure answer. One flat array, as most batches hold one request. */
  readonly #requests: unknown[] = [];
  /** Which requests want a whole decision (take()); `undefined` while none does. */
  #decisions: boolean[] | undefined;

  constructor(t: RedisTarget) {
    this.sharedLimit = isOneKeyOneLimit(t) ? t.limitArgs : undefined;
    this.oneKey = t.keys.length === 1 ? t.keys[0] : undefined;
  }

  get size(): number {
    return this.#requests.length / 4;
  }

  /** The target (its key) of request `i`. */
  target(i: number): RedisTarget {
    return this.#requests[4 * i] as RedisTarget;
  }

  /** Tokens request `i` wants. */
  n(i: number): number {
    return this.#requests[4 * i + 1] as number;
  }

  /** Whether some request wants a whole decision: the batch's reply must carry the levels. */
  get detailed(): boolean {
    return this.#decisions !== undefined;
  }

  /** Whether request `i` wants a whole decision. */
  wantsDecision(i: number): boolean {
    return this.#decisions?.[i] === true;
  }

  add(t: RedisTarget, n: number, answer: FailureAnswer): Promise<boolean> {
    if (this.oneKey !== t.keys[0] || t.keys.length !== 1) this.oneKey = undefined;
    if (this.sharedLimit !== t.limitArgs) this.sharedLimit = undefined;
    const requests = this.#requests;
    return new Promise<boolean>((resolve) => {
      requests.push(t, n, resolve, answer);
    });
  }

  /** A request that wants the whole decision (take()). */
  addDecision(t: RedisTarget, n: number, answer: FailureAnswer): Promise<Decision> {
    (this.#decisions ??= [])[this.size] = true;
    return this.add(t, n, answer) as unknown as Promise<Decision>;
  }

  /** Answers request `i`: taken or refused (or its decision, if it wants one). */
  answer(i: number, taken: boolean | Decision): void {
    (this.#requests[4 * i + 2] as Resolve)(taken);
  }

  /** Answers request `i` (made on the limiter `owner`) as its failure policy says. */
  failOne(i: number, error: unknown, owner: object): void {
    const answer = this.#requests[4 * i + 3] as FailureAnswer;
    const n = this.n(i);
    (this.#requests[4 * i + 2] as Resolve)(this.wantsDecision(i) ? answer.decide(owner, error, n, this.target(i).limits) : answer.take(owner, error, n));
  }

  /** Answers every request as its failure policy says. */
  fail(error: unknown, owner: object): void {
    for (let i = 0; i < this.size; i++) this.failOne(i, error, owner);
  }
}

/**
 * The most takes one script call carries. With many concurrent callers, full batches leave at
 * once, so several are in flight: the client answers one batch's callers (and gathers the next)
 * while the server runs another, instead of each side waiting for the other. A script of this
 * many requests already spreads its call's fixed cost thin.
 */
const MAX_BATCH = 32;

type Resolve = (answer: boolean | Decision | Promise<boolean | Decision>) => void;

/**
 * Gathers takes until the tick's promise jobs have run, then hands each batch to `send`: one batch
 * per group of keys one script may touch together (`groupOf`: all keys on a standalone server, a
 * hash slot on a Cluster).
 */
export class Gatherer {
  #batches = new Map<number, Batch>();
  readonly #send: (batch: Batch) => void;
  readonly #groupOf: (key: string) => number;

  constructor(send: (batch: Batch) => void, groupOf: (key: string) => number) {
    this.#send = send;
    this.#groupOf = groupOf;
  }

  /** A take of `n` tokens from the keys of `t` (all in one hash slot), decided with the others of this tick. */
  add(t: RedisTarget, n: number, answer: FailureAnswer): Promise<boolean> {
    const group = this.#groupOf(t.keys[0]!);
    const batch = this.#batchFor(group, t);
    const taken = batch.add(t, n, answer);
    if (batch.size === MAX_BATCH) this.#sendNow(group, batch);
    return taken;
  }

  /** {@link add}, answered with the whole decision. */
  addDecision(t: RedisTarget, n: number, answer: FailureAnswer): Promise<Decision> {
    const group = this.#groupOf(t.keys[0]!);
    const batch = this.#batchFor(group, t);
    const decided = batch.addDecision(t, n, answer);
    if (batch.size === MAX_BATCH) this.#sendNow(group, batch);
    return decided;
  }

  #batchFor(group: number, t: RedisTarget): Batch {
    let batch = this.#batches.get(group);
    if (batch === undefined) {
      if (this.#batches.size === 0) process.nextTick(this.#flush);
      batch = new Batch(t);
      this.#batches.set(group, batch);
    }
    return batch;
  }

  /** Sends a full batch at once; the group's next takes start another, sent after it. */
  #sendNow(group: number, batch: Batch): void {
    this.#batches.delete(group);
    this.#send(batch);
  }

  /**
   * Sends the takes still gathering on `keys` now, before another command on them: this
   * process's commands reach a key in the order they were made.
   */
  sendFirst(keys: readonly string[]): void {
    if (this.#batches.size === 0) return;
    for (const key of keys) {
      const group = this.#groupOf(key);
      const batch = this.#batches.get(group);
      if (batch === undefined) continue;
      this.#batches.delete(group);
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
