// Redis calls with a deadline of our own: a client library may queue a command while it reconnects
// and retry it many times, so its own settings cannot promise a prompt answer. Ours can.
//
// No timer per call: arming and clearing one is a large part of a call's client-side cost. The
// calls of one limiter share one timeout, so their deadlines come in the order the calls were
// made: a queue and one timer for its head cover them all.

import { timerDelay } from '../waiting/timer-delay.js';

/**
 * A Redis bucket could not reach a decision: Redis answered with an error, could not be reached,
 * or did not answer within the bucket's `timeout`. The client library's error, if any, is `cause`.
 */
export class RedisBucketError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RedisBucketError';
  }
}

/**
 * What a call is about, for its errors: the text itself, or an object whose `what` is read only
 * if an error needs it (a keyed bucket's name is made per key, and most calls never need it).
 */
export type CallName = string | { readonly what: string };

/** The text of a call's name. */
export const nameOf = (name: CallName): string => (typeof name === 'string' ? name : name.what);

interface Pending {
  /** Clock time after which the call is failed. */
  readonly at: number;
  readonly what: CallName;
  readonly onReply: (reply: unknown) => void;
  readonly onError: (error: RedisBucketError) => void;
  readonly onLate: ((reply: unknown) => void) | undefined;
  settled: boolean;
}

/** `performance` held once: Node 20 resolves the global through a getter on every access. */
const clock = globalThis.performance;

/** Who hears how calls went: a circuit breaker, and the redis-error event. */
export interface CallWatch {
  /** A call is about to go to Redis: `undefined` lets it, an error fails it at once (an open circuit). */
  admit(what: CallName): RedisBucketError | undefined;
  /** Redis answered (with a value, or an error of its own: it is reachable). */
  answered(): void;
  /** A call failed: an error, no connection, or no answer in time; `unreachable` unless Redis itself answered with an error. */
  failed(error: RedisBucketError, unreachable: boolean): void;
}

/**
 * Runs Redis calls that each settle within `timeoutMs`: with the reply, or with a
 * {@link RedisBucketError} saying what failed. A reply that comes after the deadline goes to the
 * call's `onLate`, if it has one, so that whatever the late command took can be given back (never
 * an unhandled rejection). One timer, which holds the process open only while a call is pending.
 */
export class TimedCalls {
  readonly #timeoutMs: number;
  readonly #watch: CallWatch | undefined;
  readonly #isErrorReply: (error: unknown) => boolean;
  #queue: Pending[] = [];
  #head = 0;
  #pending = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** `isErrorReply(error)`: the error is the server's own answer (the client library tells), so Redis is there. */
  constructor(timeoutMs: number, watch?: CallWatch, isErrorReply: (error: unknown) => boolean = () => false) {
    this.#timeoutMs = timeoutMs;
    this.#watch = watch;
    this.#isErrorReply = isErrorReply;
  }

  /**
   * Starts the call `start` (which may throw); `what` names it in errors. Then exactly one of
   * `onReply(reply)` or `onError(error)` runs, within the timeout; after a timeout, a reply that
   * still comes goes to `onLate`. None of them may throw.
   */
  send(
    start: () => Promise<unknown>,
    what: CallName,
    onReply: (reply: unknown) => void,
    onError: (error: RedisBucketError) => void,
    onLate?: (reply: unknown) => void,
  ): void {
    const watch = this.#watch;
    const refused = watch?.admit(what);
    if (refused !== undefined) {
      onError(refused);
      return;
    }
    let reply: Promise<unknown>;
    try {
      reply = start();
    } catch (error) {
      const failed = failure(what, error);
      watch?.failed(failed, true);
      onError(failed);
      return;
    }
    const call: Pending = { at: clock.now() + this.#timeoutMs, what, onReply, onError, onLate, settled: false };
    this.#add(call);
    reply.then(
      (value) => {
        if (this.#settle(call)) {
          watch?.answered();
          onReply(value);
        } else {
          call.onLate?.(value);
        }
      },
      (error: unknown) => {
        if (!this.#settle(call)) return;
        const failed = failure(what, error);
        // An error reply (a script's own error, a wrong key type) comes from a server that is there.
        watch?.failed(failed, !this.#isErrorReply(error));
        onError(failed);
      },
    );
  }

  /**
   * {@link TimedCalls.send} as a promise: resolves with `onReply(reply)`; on a failure or timeout
   * (or a reply that `onReply` rejects by throwing a {@link RedisBucketError}), with
   * `onFailure(error)`, or rejects with the error if there is none.
   */
  run<T>(
    start: () => Promise<unknown>,
    what: CallName,
    onReply: (reply: unknown) => T,
    onFailure?: (error: RedisBucketError) => T | PromiseLike<T>,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const fail = (error: unknown): void => {
        if (onFailure === undefined || !(error instanceof RedisBucketError)) {
          reject(error);
          return;
        }
        try {
          resolve(onFailure(error));
        } catch (thrown) {
          reject(thrown);
        }
      };
      this.send(start, what, (reply) => {
        try {
          resolve(onReply(reply));
        } catch (error) {
          fail(error);
        }
      }, fail);
    });
  }

  #add(call: Pending): void {
    this.#queue.push(call);
    if (this.#pending++ === 0) {
      if (this.#timer === undefined) this.#timer = setTimeout(this.#expire, this.#timeoutMs);
      else this.#timer.ref();
    }
  }

  /** Marks `call` settled; false if it already was (timed out). */
  #settle(call: Pending): boolean {
    if (call.settled) return false;
    call.settled = true;
    const queue = this.#queue;
    while (this.#head < queue.length && queue[this.#head]!.settled) this.#head++;
    if (this.#head === queue.length) {
      queue.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= queue.length) {
      queue.splice(0, this.#head);
      this.#head = 0;
    }
    // The timer stays armed for the next call, but no longer keeps the process alive.
    if (--this.#pending === 0) this.#timer?.unref();
    return true;
  }

  /** Fails every call past its deadline, then sleeps until the next deadline (if a call is pending). */
  readonly #expire = (): void => {
    this.#timer = undefined;
    const now = clock.now();
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const call = queue[this.#head]!;
      if (call.at > now) break;
      this.#settle(call); // moves the head past it and past the settled calls behind it
      const error = new RedisBucketError(`${nameOf(call.what)}: no answer from Redis within ${this.#timeoutMs} ms (timeout)`);
      this.#watch?.failed(error, true);
      call.onError(error);
    }
    if (this.#head < queue.length) {
      // An onError above may have started a call, and with it a timer: one timer, for the head.
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      // A timer may fire a little before clock.now() reaches the deadline: at least 1 ms on.
      this.#timer = setTimeout(this.#expire, timerDelay(queue[this.#head]!.at - now));
    }
  };
}

function failure(what: CallName, error: unknown): RedisBucketError {
  const message = error instanceof Error ? error.message : String(error);
  return new RedisBucketError(`${nameOf(what)}: Redis call failed: ${message}`, { cause: error });
}
