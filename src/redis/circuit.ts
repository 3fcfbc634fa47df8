// A circuit breaker for one Redis limiter: after `failures` calls in a row fail for want of Redis
// (no answer in time, no connection), calls stop going to Redis for `resetAfter` ms and are failed
// at once, so the failure policy answers them without each waiting out the timeout. Then one call
// probes Redis: its success closes the circuit, its failure opens it again.

import { circuitChannel, type CircuitEvent } from '../events.js';
import * as check from '../validate.js';
import { MAX_TIMER_DELAY } from '../waiting/timer-delay.js';

/** The `circuitBreaker` option of the Redis kinds. */
export interface CircuitBreakerOptions {
  /** Consecutive failed calls that open the circuit: an integer >= 1. */
  failures: number;
  /** How long it stays open before one call probes Redis (ms). */
  resetAfter: number;
}

export type CircuitState = CircuitEvent['state'];

/** `performance` held once: Node 20 resolves the global through a getter on every access. */
const clock = globalThis.performance;

export class Circuit {
  readonly #failures: number;
  readonly #resetAfter: number;
  readonly #owner: () => object;
  #state: CircuitState = 'closed';
  #inARow = 0;
  #openedAt = 0;
  #probing = false;

  constructor(options: CircuitBreakerOptions, owner: () => object) {
    this.#failures = options.failures;
    this.#resetAfter = options.resetAfter;
    this.#owner = owner;
  }

  get state(): CircuitState {
    return this.#state;
  }

  /** Whether a call may go to Redis now (in half-open, only the one probe). */
  admit(): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open') {
      if (clock.now() - this.#openedAt < this.#resetAfter) return false;
      this.#set('half-open');
    }
    if (this.#probing) return false;
    this.#probing = true;
    return true;
  }

  /** ms until the open circuit lets a probe through (0 when it is not open). */
  get retryIn(): number {
    return this.#state === 'open' ? Math.max(0, this.#resetAfter - (clock.now() - this.#openedAt)) : 0;
  }

  /** Redis answered a call (even with an error of its own: it is there). */
  succeeded(): void {
    this.#inARow = 0;
    this.#probing = false;
    if (this.#state !== 'closed') this.#set('closed');
  }

  /** A call failed for want of Redis. */
  failed(): void {
    this.#probing = false;
    if (this.#state === 'half-open' || (this.#state === 'closed' && ++this.#inARow >= this.#failures)) {
      this.#openedAt = clock.now();
      this.#inARow = 0;
      this.#set('open');
    }
  }

  #set(state: CircuitState): void {
    this.#state = state;
    if (circuitChannel.hasSubscribers) circuitChannel.publish({ bucket: this.#owner(), state } satisfies CircuitEvent);
  }
}

const KEYS = ['failures', 'resetAfter'] as const;

/** Checks a `circuitBreaker` option (`undefined`: none). */
export function checkCircuitBreaker(value: unknown): CircuitBreakerOptions | undefined {
  if (value === undefined) return undefined;
  const o = check.options<CircuitBreakerOptions>('circuitBreaker', value);
  check.knownKeys('circuitBreaker', o, KEYS);
  if (o.failures === undefined || o.resetAfter === undefined) {
    throw new TypeError('circuitBreaker needs { failures, resetAfter }: failed calls in a row that open it, and ms it stays open');
  }
  if (typeof o.failures !== 'number') throw new TypeError(`circuitBreaker.failures must be a number, got ${check.show(o.failures)}`);
  if (!Number.isSafeInteger(o.failures) || o.failures < 1) throw new RangeError(`circuitBreaker.failures must be an integer >= 1, got ${check.show(o.failures)}`);
  const resetAfter = check.positive('circuitBreaker.resetAfter', o.resetAfter);
  if (resetAfter > MAX_TIMER_DELAY) throw new RangeError(`circuitBreaker.resetAfter must be at most ${MAX_TIMER_DELAY} ms, got ${resetAfter}`);
  return { failures: o.failures, resetAfter };
}
