// The verbs every Redis bucket shares (plain bucket, hierarchy node, keyed): one take script per
// request; a waiter's tokens are reserved by that script (the levels go below 0), so it only has
// to sleep until time has earned them: no second round trip, and first come first served across
// every process, since each later request sees the debt of those before it.

import { RateLimitExceeded, asConsumed, neverFits, tooManyWaiting } from '../errors.js';
import type { AcquireOptions, AsyncConsumeOptions, Decision } from '../types.js';
import * as check from '../validate.js';
import { offAbort, onAbort } from '../waiting/abort.js';
import { RedisEngine } from './engine.js';
import type { CircuitBreakerOptions } from './circuit.js';
import type { FailureAnswer } from './failure-policy.js';
import type { RedisClient } from './client.js';
import { Sleepers, type Sleeper } from './sleepers.js';
import type { RedisTarget } from './target.js';

const NO_WAIT = { maxWait: Infinity, signal: undefined } as const;

/** Callers of one limiter object (a bucket, a keyed limiter) waiting in this process, and the most that may. */
export class WaitingCount {
  count = 0;
  readonly max: number;

  /** @param max `maxWaiting` (checked): past it, a request that would wait is refused at once. */
  constructor(max: number) {
    this.max = max;
  }
}

/** Runs the shared verbs against one client with one timeout. */
export class RedisLimiter {
  readonly #engine: RedisEngine;
  /** Waiters of this process sleeping on reservations, by leaf key (a refund can wake them sooner). */
  readonly #sleepers = new Sleepers();

  /** The limiter object users hold (for a hierarchy, its root), as events name it; set once it exists. */
  owner: object = this;

  constructor(client: RedisClient, timeout: number, circuitBreaker: CircuitBreakerOptions | undefined) {
    this.#engine = new RedisEngine(client, timeout, (key, ms) => this.#sleepers.shorten(key, ms), () => this.owner, circuitBreaker);
  }

  /** `consume(n, { block, maxWait, signal })` of every Redis bucket. */
  consume(t: RedisTarget, n: number, options: AsyncConsumeOptions | undefined, onFailure: FailureAnswer, waiting: WaitingCount): Promise<boolean> {
    try {
      check.tokens(n);
      // No options (the hot path): nothing to parse, no objects to make.
      if (options === undefined && n > 0 && n <= t.capacity) return this.#engine.takeNow(t, n, onFailure);
      const o = check.options<AsyncConsumeOptions>('options', options);
      const { block = false, ...waitOptions } = o;
      check.boolean('block', block, false);
      const { signal } = check.acquireOptions(waitOptions); // maxWait is checked, and ignored without block
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (block) return asConsumed(this.acquire(t, n, waitOptions, onFailure, waiting));
      if (n > t.capacity) return Promise.resolve(false);
      return this.#engine.takeNow(t, n, onFailure);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** `take(n)` of every Redis bucket: the non-waiting decision, with the levels after it. */
  take(t: RedisTarget, n: number, onFailure: FailureAnswer): Promise<Decision> {
    try {
      check.tokens(n);
      if (n <= t.capacity) return this.#engine.decide(t, n, onFailure);
      // Never passes: the levels are read by a take of 0, which changes nothing.
      return this.#engine.decide(t, 0, onFailure).then((d) => ({ ...d, allowed: false, retryAfter: Infinity }));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** `acquire(n, { maxWait, signal })` of every Redis bucket. */
  acquire(t: RedisTarget, n: number, options: AcquireOptions | undefined, onFailure: FailureAnswer, waiting: WaitingCount): Promise<void> {
    try {
      check.tokens(n);
      const { maxWait, signal } = options === undefined ? NO_WAIT : check.acquireOptions(options);
      if (n > t.capacity) throw neverFits(n, t.capacity);
      if (signal?.aborted) return Promise.reject(signal.reason);
      return this.#take(t, n, maxWait, signal, waiting).catch((error: unknown) => onFailure.acquire(this.owner, error, n, maxWait, signal));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Milliseconds until `n` tokens are there (`Infinity` if never); rejects on a Redis failure. */
  timeUntil(t: RedisTarget, n: number): Promise<number> {
    try {
      check.tokens(n);
      if (n > t.capacity) return Promise.resolve(Infinity);
      return this.#engine.peek(t, n, (wait) => wait);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The lowest level on the chain now (below 0 while waiters hold reservations). */
  tokens(t: RedisTarget): Promise<number> {
    return this.#engine.peek(t, 0, (_wait, lowest) => lowest);
  }

  /**
   * Starts the buckets of `t` that start below capacity, if Redis has no state for them yet, at
   * server time now (as a local bucket starts when it is made). Best effort: if it fails, the
   * first request starts them instead.
   */
  create(t: RedisTarget): void {
    this.#engine.create(t);
  }

  /** `penalize(n)` (`sign` -1) and `reward(n)` (`sign` 1) of every Redis bucket. */
  adjust(t: RedisTarget, n: number, sign: 1 | -1): Promise<void> {
    try {
      check.tokens(n);
      return n === 0 ? Promise.resolve() : this.#engine.adjust(t, sign * n);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Refills the levels of `t` to now at the limits `t` carries (a refund of 0), before they
   * change. Best effort: if Redis fails, the next call refills at the new limits instead.
   */
  settle(t: RedisTarget): Promise<void> {
    return this.#engine.adjust(t, 0).catch(() => {});
  }

  /**
   * The limits of Redis keys changed: this process's sleepers follow, each key's by
   * `ratioOf(key)` (the core's `slowdown`, an upper bound that is never early). Then the sleepers
   * of each key are woken by when Redis says every reservation on its chain is earned at the new
   * limits, which can be sooner (one refund of 0 per such key, best effort). `targetOf` gives a
   * sleeping key's target.
   */
  retime(ratioOf: (key: string) => number, targetOf: (key: string) => RedisTarget | undefined): void {
    this.#sleepers.stretch(ratioOf);
    for (const key of [...this.#sleepers.keys()]) {
      const t = targetOf(key);
      if (t !== undefined) this.#engine.adjust(t, 0).catch(() => {});
    }
  }

  /** Runs another Redis call (`start`) on the keys of `t`, with this limiter's timeout and errors. */
  run<T>(t: RedisTarget, start: () => Promise<unknown>, onReply: (reply: unknown) => T): Promise<T> {
    return this.#engine.run(t, start, onReply);
  }

  /**
   * One take script; if it reserved, sleeps until the tokens are earned. An abort or a timeout
   * rejects at once and gives back whatever the script took or reserved, even if its reply comes
   * later.
   */
  #take(t: RedisTarget, n: number, maxWait: number, signal: AbortSignal | undefined, waiting: WaitingCount): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let state: 'calling' | 'sleeping' | 'done' = 'calling';
      let sleeper: Sleeper | undefined;
      // Past maxWaiting the script may take now or refuse, not reserve. A request that may wait
      // counts from its call on: it may come back reserved.
      const full = maxWait > 0 && waiting.count >= waiting.max;
      const counted = maxWait > 0 && !full;
      if (counted) waiting.count++;
      const finish = (): void => {
        state = 'done';
        if (counted) waiting.count--;
        if (signal !== undefined) offAbort(signal, abort);
      };
      const abort = (): void => {
        if (state === 'done') return;
        const held = state === 'sleeping';
        finish();
        if (sleeper !== undefined) this.#sleepers.cancel(sleeper);
        if (held) this.#engine.refund(t, n);
        reject(signal!.reason);
      };
      if (signal !== undefined) onAbort(signal, abort);
      this.#engine.take(t, n, full ? 0 : maxWait, (status, wait) => {
        if (state === 'done') {
          // Aborted while the script ran: give its tokens back.
          if (status !== 0 && n > 0) this.#engine.refund(t, n);
        } else if (status === 1 && (n === 0 || !this.#sleepers.has(t.keys[0]!))) {
          finish();
          resolve();
        } else if (status === 0) {
          finish();
          reject(full && wait <= maxWait ? tooManyWaiting(wait, waiting.max) : new RateLimitExceeded(wait));
        } else {
          // Reserved (or taken at once while earlier waiters here still sleep on tokens time has
          // already earned them: it wakes right after them, so this process resolves in order).
          state = 'sleeping';
          sleeper = this.#sleepers.add(t.keys[0]!, wait, () => {
            finish();
            resolve();
          });
        }
      }, (error) => {
        if (state === 'done') return;
        finish();
        reject(error);
      });
    });
  }
}
