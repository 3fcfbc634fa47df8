// The verbs every Redis bucket shares (plain bucket, hierarchy node, keyed): one take script per
// request; a waiter's tokens are reserved by that script (the levels go below 0), so it only has
// to sleep until time has earned them: no second round trip, and first come first served across
// every process, since each later request sees the debt of those before it.

import { offAbort, onAbort } from '../abort.js';
import { RateLimitExceeded } from '../errors.js';
import { kindOf } from '../kinds.js';
import type { KeyedAcquirable } from '../keyed.js';
import { acquireOptions, neverFits, type AcquirableBucket, type AcquireOptions } from '../local-bucket.js';
import * as check from '../validate.js';
import { RedisBucketError, TimedCalls } from './redis-call.js';
import { REFUND_COMMAND, TAKE_COMMAND, TAKE_MANY_COMMAND, TAKE_ONE_COMMAND, callScript, defineScripts, type ScriptClient } from './scripts.js';
import { ServerClock } from './server-clock.js';
import { Sleepers, type Sleeper } from './sleepers.js';

/** What a Redis bucket does when Redis fails (error, unreachable, or no answer within `timeout`). */
export type RedisFailurePolicy =
  /** Reject with a {@link RedisBucketError} (the default): never admit what Redis did not. */
  | 'throw'
  /** Admit the request as if Redis had said yes (fail open). */
  | 'allow'
  /** Refuse it: `consume` resolves `false`, `acquire` rejects {@link RateLimitExceeded}. */
  | 'deny'
  /** Ask this local bucket instead (the "insurance" bucket), with the caller's `maxWait`/`signal`. */
  | AcquirableBucket;

/** How a failed call is answered: a fixed policy or a local fallback taking `(n, maxWait, signal)`. */
export type FailureAnswer = 'throw' | 'allow' | 'deny' | ((n: number, maxWait: number, signal: AbortSignal | undefined) => Promise<void>);

/** The keys one request touches and the limits on each, as the scripts take them. */
export interface RedisTarget {
  /** Keys of one chain (leaf first); all in one hash slot. */
  readonly keys: readonly string[];
  /** Per key: number of limits, then capacity, tokens per ms, initial tokens for each. */
  readonly limitArgs: readonly string[];
  /** Largest request that can ever be served (smallest capacity on the chain). */
  readonly capacity: number;
  /** Names the bucket in errors, e.g. `RedisTokenBucket "api:user:1"` (read only for an error). */
  readonly what: string;
}

/** Options of `consume` on Redis buckets. */
export interface RedisConsumeOptions extends AcquireOptions {
  /** Wait (without blocking the event loop) until the tokens are there. Default `false`. */
  block?: boolean;
}

const NO_WAIT = { maxWait: Infinity, signal: undefined } as const;

/** Checks a `redis` option: an ioredis `Redis` or `Cluster` (anything with `defineCommand`). */
export function checkClient(value: unknown): ScriptClient {
  if (typeof value !== 'object' || value === null || typeof (value as ScriptClient).defineCommand !== 'function') {
    throw new TypeError('redis must be an ioredis Redis or Cluster client');
  }
  return value as ScriptClient;
}

// Timers cannot wait longer: Node fires a longer setTimeout after 1 ms (with a warning), which
// would make the deadline timer of every call fire at once, over and over.
const MAX_TIMEOUT = 2 ** 31 - 1;

/** Checks the `timeout` option (ms, default 1000). */
export function checkTimeout(value: unknown): number {
  if (value === undefined) return 1000;
  const timeout = check.positive('timeout', value);
  if (timeout > MAX_TIMEOUT) throw new RangeError(`timeout must be at most ${MAX_TIMEOUT} ms (about 24.8 days), got ${timeout}`);
  return timeout;
}

/** Checks a string option that names Redis keys (`key`, `prefix`): a non-empty string. */
export function checkKeyName(name: string, value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${name} must be a non-empty string (${what}), got ${check.show(value)}`);
  return value;
}

/** A fixed failure policy, or `undefined` if `value` is none of them. */
function fixedPolicy(value: unknown): 'throw' | 'allow' | 'deny' | undefined {
  if (value === undefined) return 'throw';
  return value === 'throw' || value === 'allow' || value === 'deny' ? value : undefined;
}

/**
 * The local fallback's answer to a request Redis could not decide. A request larger than the
 * fallback can ever hold is refused (`RateLimitExceeded`, never if retried), not a `RangeError`:
 * the caller asked within the Redis bucket's capacity, and a non-waiting consume must answer `false`.
 */
export function askFallback(capacity: number, ask: () => Promise<void>, n: number): Promise<void> {
  if (n > capacity) {
    return Promise.reject(new RateLimitExceeded(Infinity, `rate limit exceeded: Redis failed and the local fallback bucket's capacity (${capacity}) is below n (${n})`));
  }
  return ask();
}

/** Checks the `onRedisError` option of a single bucket: a policy, or a local single bucket to ask. */
export function checkPolicy(value: unknown): FailureAnswer {
  const fixed = fixedPolicy(value);
  if (fixed !== undefined) return fixed;
  if (typeof value === 'object' && value !== null && typeof (value as AcquirableBucket).acquire === 'function'
    && typeof (value as AcquirableBucket).capacity === 'number') {
    if (kindOf(value) === 'keyed') {
      throw new TypeError('onRedisError must be a single bucket (e.g. a TokenBucket), not a keyed limiter: a keyed fallback goes with a RedisKeyedTokenBucket');
    }
    const fallback = value as AcquirableBucket;
    return (n, maxWait, signal) => askFallback(fallback.capacity, () => fallback.acquire(n, { maxWait, signal }), n);
  }
  throw new TypeError(`onRedisError must be 'throw', 'allow', 'deny' or a local bucket (e.g. a TokenBucket), got ${check.show(value)}`);
}

/**
 * Checks the `onRedisError` option of a keyed limiter (a policy, or a local keyed limiter) and
 * returns how a failed request of one key is answered.
 */
export function checkKeyedPolicy(value: unknown): (key: string) => FailureAnswer {
  const fixed = fixedPolicy(value);
  if (fixed !== undefined) return () => fixed;
  if (typeof value === 'object' && value !== null && typeof (value as KeyedAcquirable).acquire === 'function'
    && typeof (value as KeyedAcquirable).capacity === 'number') {
    if (kindOf(value) === 'single') {
      throw new TypeError('onRedisError must be a keyed limiter (e.g. a KeyedTokenBucket), not a single bucket: one bucket would be shared by every key');
    }
    const fallback = value as KeyedAcquirable;
    return (key) => (n, maxWait, signal) => askFallback(fallback.capacity, () => fallback.acquire(key, n, { maxWait, signal }), n);
  }
  throw new TypeError(`onRedisError must be 'throw', 'allow', 'deny' or a local keyed limiter (e.g. a KeyedTokenBucket), got ${check.show(value)}`);
}

/** Formats a limit list as the scripts' per-key arguments. */
export function limitArgs(limits: readonly { capacity: number; fillRate: number; initialTokens: number }[]): string[] {
  const out = [String(limits.length)];
  for (const l of limits) out.push(String(l.capacity), String(l.fillRate / 1000), String(l.initialTokens));
  return out;
}

/**
 * Non-waiting takes of one key (one limit) made in the same tick, sent as one script call once
 * the tick's promise jobs have run. Requests in call order.
 */
interface Batch {
  readonly t: RedisTarget;
  /** Per request, in order: n, resolve, reject, failure policy (one array, as most batches hold one). */
  readonly requests: unknown[];
}
type Resolve = (taken: boolean | Promise<boolean>) => void;
type Reject = (error: unknown) => void;

/** A target the lean scripts serve: one key with one limit. */
const isOneKeyOneLimit = (t: RedisTarget): boolean => t.keys.length === 1 && t.limitArgs[0] === '1';

/** Arguments of the take and refund scripts: key count, keys, not after, n, maxWait, the limits of each key. */
function takeArgs(t: RedisTarget, notAfter: string, n: number, maxWait: number): (string | number)[] {
  return [t.keys.length, ...t.keys, notAfter, String(n), String(Math.min(maxWait, 1e300)), ...t.limitArgs];
}

/** No server time after which a call is stale: calls that write nothing, and refunds. */
const NEVER_STALE = 'inf';

/** `performance` held once: Node 20 resolves the global through a getter on every access. */
const clock = globalThis.performance;

// One estimate of the server's clock per client, shared by every bucket using it.
const serverClocks = new WeakMap<ScriptClient, ServerClock>();

/** Runs the shared verbs against one client with one timeout. */
export class RedisLimiter {
  readonly #client: ScriptClient;
  readonly #timeout: number;
  readonly #calls: TimedCalls;
  readonly #serverClock: ServerClock;
  /** Waiters of this process sleeping on reservations, by leaf key (a refund can wake them sooner). */
  readonly #sleepers = new Sleepers();
  /** Takes waiting for the end of the tick, by key. */
  #batches = new Map<string, Batch>();

  constructor(client: ScriptClient, timeout: number) {
    this.#client = client;
    this.#timeout = timeout;
    this.#calls = new TimedCalls(timeout);
    let serverClock = serverClocks.get(client);
    if (serverClock === undefined) serverClocks.set(client, (serverClock = new ServerClock(client)));
    this.#serverClock = serverClock;
    defineScripts(client);
  }

  /**
   * The server time after which a take sent now is stale: its caller gives up `timeout` ms from
   * now, and one more `timeout` absorbs any error in the estimate of the server's clock. A take that
   * runs later changes nothing; one that runs between the two is given back when its reply comes.
   */
  #notAfter(): string {
    const at = this.#serverClock.serverTime(clock.now() + 2 * this.#timeout);
    return at === Infinity ? NEVER_STALE : String(Math.ceil(at));
  }

  /** `consume(n, { block, maxWait, signal })` of every Redis bucket. */
  consume(t: RedisTarget, n: number, options: RedisConsumeOptions | undefined, onFailure: FailureAnswer): Promise<boolean> {
    try {
      check.tokens(n);
      // No options (the hot path): nothing to parse, no objects to make.
      if (options === undefined && n > 0 && n <= t.capacity) return this.#tryTake(t, n, onFailure);
      const o = check.options<RedisConsumeOptions>('options', options);
      const { block = false, ...waitOptions } = o;
      check.boolean('block', block, false);
      const { signal } = acquireOptions(waitOptions); // maxWait is checked, and ignored without block
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (block) return this.acquire(t, n, waitOptions, onFailure).then(returnTrue, falseIfRefused);
      if (n > t.capacity) return Promise.resolve(false);
      return this.#tryTake(t, n, onFailure);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * One take that does not wait: `true` if taken; on a Redis failure, the policy decides. Takes of
   * one key with one limit wait for the end of the tick, so that concurrent callers of a bucket
   * share one script call (one round trip each still; the server decides them one after the other,
   * in call order, exactly as separate calls).
   */
  #tryTake(t: RedisTarget, n: number, onFailure: FailureAnswer): Promise<boolean> {
    if (n === 0 || !isOneKeyOneLimit(t)) {
      return this.#call(TAKE_COMMAND, t, n, 0, (reply) => this.#parseTake(reply, t)[0] === 1, (error) => this.#failTake(error, onFailure, n), (reply) => {
        if (takenLate(reply)) this.#refund(t, n); // the caller had its answer: what the take got goes back
      });
    }
    const key = t.keys[0]!;
    let batch = this.#batches.get(key);
    if (batch === undefined) {
      if (this.#batches.size === 0) process.nextTick(this.#flush);
      batch = { t, requests: [] };
      this.#batches.set(key, batch);
    }
    const requests = batch.requests;
    return new Promise<boolean>((resolve, reject) => {
      requests.push(n, resolve, reject, onFailure);
    });
  }

  /**
   * Sends every batch. A nextTick queued from a promise job runs once all promise jobs have run,
   * so callers woken together by one socket read of replies end up in one batch.
   */
  readonly #flush = (): void => {
    const batches = this.#batches;
    this.#batches = new Map();
    for (const batch of batches.values()) this.#sendBatch(batch);
  };

  /**
   * Sends the takes still gathering on the keys of `t` now, before another command on them:
   * this process's commands reach a key in the order they were made.
   */
  #sendGatheredFirst(t: RedisTarget): void {
    if (this.#batches.size === 0) return;
    for (const key of t.keys) {
      const batch = this.#batches.get(key);
      if (batch === undefined) continue;
      this.#batches.delete(key);
      this.#sendBatch(batch);
    }
  }

  #sendBatch({ t, requests }: Batch): void {
    const count = requests.length / 4;
    const notAfter = this.#notAfter();
    let command: string;
    let args: (string | number)[];
    if (count === 1) {
      command = TAKE_ONE_COMMAND;
      args = takeArgs(t, notAfter, requests[0] as number, 0);
    } else {
      command = TAKE_MANY_COMMAND;
      args = [1, t.keys[0]!, notAfter, ...t.limitArgs];
      for (let i = 0; i < requests.length; i += 4) args.push(String(requests[i]));
    }
    const fail = (error: RedisBucketError): void => {
      for (let i = 0; i < requests.length; i += 4) {
        (requests[i + 1] as Resolve)(this.#failTake(error, requests[i + 3] as FailureAnswer, requests[i] as number));
      }
    };
    this.#calls.send(() => callScript(this.#client, command, args), t, (reply) => {
      let taken: string;
      try {
        taken = count === 1 ? (this.#parseTake(reply, t)[0] === 1 ? '1' : '0') : this.#parseTakeMany(reply, count, t);
      } catch (error) {
        fail(error as RedisBucketError);
        return;
      }
      for (let i = 0; i < count; i++) (requests[4 * i + 1] as Resolve)(taken.charCodeAt(i) === 49); // '1'
    }, fail, (reply) => {
      // Every caller had its answer: whatever the late batch took goes back, in one refund.
      let late = 0;
      if (count === 1) {
        if (takenLate(reply)) late = requests[0] as number;
      } else if (typeof reply === 'string' && reply.length === count) {
        for (let i = 0; i < count; i++) if (reply.charCodeAt(i) === 49) late += requests[4 * i] as number;
      }
      if (late > 0) this.#refund(t, late);
    });
  }

  /** `acquire(n, { maxWait, signal })` of every Redis bucket. */
  acquire(t: RedisTarget, n: number, options: AcquireOptions | undefined, onFailure: FailureAnswer): Promise<void> {
    try {
      check.tokens(n);
      const { maxWait, signal } = options === undefined ? NO_WAIT : acquireOptions(options);
      if (n > t.capacity) throw neverFits(n, t.capacity);
      if (signal?.aborted) return Promise.reject(signal.reason);
      return this.#take(t, n, maxWait, signal).catch((error: unknown) => this.#fail(error, onFailure, n, maxWait, signal));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Milliseconds until `n` tokens are there (`Infinity` if never); rejects on a Redis failure. */
  timeUntil(t: RedisTarget, n: number): Promise<number> {
    try {
      check.tokens(n);
      if (n > t.capacity) return Promise.resolve(Infinity);
      return this.#call(TAKE_COMMAND, t, n, -1, (reply) => this.#parseTake(reply, t)[1]);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Starts the buckets of `t` that start below capacity, if Redis has no state for them yet, at
   * server time now (as a local bucket starts when it is made). Best effort: if it fails, the
   * first request starts them instead.
   */
  create(t: RedisTarget): void {
    this.#call(TAKE_COMMAND, t, 0, 0, ignore, ignore);
  }

  /** The lowest level on the chain now (below 0 while waiters hold reservations). */
  tokens(t: RedisTarget): Promise<number> {
    return this.#call(TAKE_COMMAND, t, 0, -1, (reply) => this.#parseTake(reply, t)[2]);
  }

  /**
   * One script call on the keys of `t`. A take that may write (n > 0, maxWait >= 0) is stale past
   * its caller's patience; `onLate` gets its reply if that comes after the timeout.
   */
  #call<T>(
    command: string,
    t: RedisTarget,
    n: number,
    maxWait: number,
    onReply: (reply: unknown) => T,
    onFailure?: (error: RedisBucketError) => T | PromiseLike<T>,
    onLate?: (reply: unknown) => void,
  ): Promise<T> {
    this.#sendGatheredFirst(t);
    const notAfter = command === TAKE_COMMAND && n > 0 && maxWait >= 0 ? this.#notAfter() : NEVER_STALE;
    // One key with one limit (the common case) has a lean script of its own: same arguments and replies.
    if (command === TAKE_COMMAND && isOneKeyOneLimit(t)) command = TAKE_ONE_COMMAND;
    return this.#calls.script(this.#client, command, takeArgs(t, notAfter, n, maxWait), t, onReply, onFailure, onLate);
  }

  /** Runs another Redis call (`start`) on the keys of `t`, with this limiter's timeout and errors. */
  run<T>(t: RedisTarget, start: () => Promise<unknown>, onReply: (reply: unknown) => T): Promise<T> {
    this.#sendGatheredFirst(t);
    return this.#calls.run(start, t, onReply);
  }

  /** The answer to a take that did not wait when Redis failed: what the policy says, as a boolean. */
  #failTake(error: unknown, onFailure: FailureAnswer, n: number): Promise<boolean> {
    return this.#fail(error, onFailure, n, 0, undefined).then(returnTrue, falseIfRefused);
  }

  /** Applies the failure policy to a {@link RedisBucketError}; other errors pass through. */
  #fail(error: unknown, onFailure: FailureAnswer, n: number, maxWait: number, signal: AbortSignal | undefined): Promise<void> {
    if (!(error instanceof RedisBucketError) || onFailure === 'throw') return Promise.reject(error);
    if (onFailure === 'allow') return Promise.resolve();
    if (onFailure === 'deny') {
      const refused = new RateLimitExceeded(this.#timeout, `rate limit exceeded: Redis failed and the policy is 'deny' (${error.message})`);
      refused.cause = error;
      return Promise.reject(refused);
    }
    return onFailure(n, maxWait, signal);
  }

  /**
   * One take script; if it reserved, sleeps until the tokens are earned. An abort or a timeout
   * rejects at once and gives back whatever the script took or reserved, even if its reply comes
   * later.
   */
  #take(t: RedisTarget, n: number, maxWait: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let state: 'calling' | 'sleeping' | 'done' = 'calling';
      let sleeper: Sleeper | undefined;
      const finish = (): void => {
        state = 'done';
        if (signal !== undefined) offAbort(signal, abort);
      };
      const abort = (): void => {
        if (state === 'done') return;
        const held = state === 'sleeping';
        finish();
        if (sleeper !== undefined) this.#sleepers.cancel(sleeper);
        if (held) this.#refund(t, n);
        reject(signal!.reason);
      };
      if (signal !== undefined) onAbort(signal, abort);
      const onReply = (reply: unknown): void => {
        let status: number;
        let wait: number;
        try {
          [status, wait] = this.#parseTake(reply, t);
        } catch (error) {
          if (state !== 'done') {
            finish();
            reject(error);
          }
          return;
        }
        if (state === 'done') {
          // Aborted while the script ran, or timed out and this is the late reply: give its tokens back.
          if (status !== 0) this.#refund(t, n);
        } else if (status === 1 && (n === 0 || !this.#sleepers.has(t.keys[0]!))) {
          finish();
          resolve();
        } else if (status === 0) {
          finish();
          reject(new RateLimitExceeded(wait));
        } else {
          // Reserved (or taken at once while earlier waiters here still sleep on tokens time has
          // already earned them: it wakes right after them, so this process resolves in order).
          state = 'sleeping';
          sleeper = this.#sleepers.add(t.keys[0]!, wait, () => {
            finish();
            resolve();
          });
        }
      };
      this.#call(TAKE_COMMAND, t, n, maxWait, onReply, (error) => {
        if (state === 'done') return;
        finish();
        reject(error);
      }, (reply) => {
        if (reply !== STALE) onReply(reply); // a stale take did nothing: nothing to give back
      });
    });
  }

  /** `[status, wait ms, lowest level]` from a take reply; a reply that is not one is a failure. */
  #parseTake(reply: unknown, t: RedisTarget): [number, number, number] {
    if (reply === 1) return TAKEN; // the one-key script's short answer for "taken"
    if (!Array.isArray(reply) || reply.length !== 3) throw this.#unexpected(reply, t);
    return [Number(reply[0]), parseNumber(reply[1]), parseNumber(reply[2])];
  }

  /** One '1' (taken) or '0' (refused) per request, from the reply of the batch script. */
  #parseTakeMany(reply: unknown, count: number, t: RedisTarget): string {
    if (typeof reply !== 'string' || reply.length !== count || !/^[01]*$/.test(reply)) throw this.#unexpected(reply, t);
    return reply;
  }

  #unexpected(reply: unknown, t: RedisTarget): RedisBucketError {
    if (reply !== STALE) return new RedisBucketError(`${t.what}: unexpected reply from the take script: ${JSON.stringify(reply)}`);
    // The server ran the take after the time we computed for the end of its caller's wait, but the
    // caller still waits: the server's clock is ahead of our estimate. Measure it again.
    this.#serverClock.resample();
    return new RedisBucketError(`${t.what}: Redis judged the call too late to run before its caller stopped waiting (the server's clock moved ahead; it is being measured again)`);
  }

  /** Gives a reservation back. A failure loses the tokens until time pays them back: never over-admits. */
  #refund(t: RedisTarget, n: number): void {
    this.#call(REFUND_COMMAND, t, n, 0, (reply) => {
      // Every reservation on this chain is earned `clear` ms from now: no waiter here sleeps longer.
      const clear = parseNumber(reply);
      if (clear >= 0) this.#sleepers.shorten(t.keys[0]!, clear);
    }, ignore);
  }
}

const returnTrue = (): boolean => true;
const ignore = (): void => {};
const falseIfRefused = (error: unknown): boolean => {
  if (error instanceof RateLimitExceeded) return false;
  throw error;
};

/** The reply of a take that ran too late to matter: it changed nothing. */
const STALE = 'stale';

/** Whether a late reply (to a take whose caller had its answer) says it took or reserved tokens. */
function takenLate(reply: unknown): boolean {
  return reply === 1 || (Array.isArray(reply) && (reply[0] === 1 || reply[0] === 2));
}

function parseNumber(value: unknown): number {
  if (value === 'inf') return Infinity;
  if (value === '-inf') return -Infinity;
  return typeof value === 'string' || typeof value === 'number' ? Number(value) : Number.NaN;
}

/** `[status, wait ms, lowest level]` of the one-key script's short answer for "taken". */
const TAKEN: [number, number, number] = [1, 0, NaN];
