// A semaphore across processes and machines: leases are ids in Redis that expire on the server's
// clock unless renewed, so a crashed holder frees its slot; waiters queue in Redis in arrival
// order and are woken by pub/sub when their turn comes (src/redis/wake-ups.ts), with a timed ask
// now and then in case a wake-up was missed. Requests of one tick go to Redis as one script call.

import { randomBytes } from 'node:crypto';
import { RateLimitExceeded } from '../errors.js';
import { decisionChannel, realClock, watchDecision, watchWait } from '../events.js';
import { markKind } from '../kinds.js';
import { checkLimit, type Lease } from '../semaphore.js';
import type { AcquireOptions } from '../types.js';
import * as check from '../validate.js';
import { offAbort, onAbort } from '../waiting/abort.js';
import { MAX_TIMER_DELAY } from '../waiting/timer-delay.js';
import { checkCircuitBreaker, type CircuitBreakerOptions } from './circuit.js';
import { RedisEngine } from './engine.js';
import { checkSemaphoreFailurePolicy, type RedisSemaphoreFailurePolicy, type SemaphoreFailureAnswer } from './failure-policy.js';
import { checkClient, checkKeyName, checkTimeout } from './options.js';
import { RedisBucketError } from './redis-call.js';
import { SEMAPHORE_ACQUIRE, SEMAPHORE_COUNT, SEMAPHORE_EXTEND, SEMAPHORE_RELEASE } from './scripts.js';
import type { RedisClient, SupportedRedisClient } from './client.js';
import { Sleepers, type Sleeper } from './sleepers.js';
import { hasHashTag } from './slots.js';
import { wakeUpsOf } from './wake-ups.js';

/** Options of {@link RedisSemaphore}. */
export interface RedisSemaphoreOptions {
  /**
   * The Redis client: an ioredis or iovalkey `Redis` or `Cluster`, or a node-redis client
   * (`createClient`) or cluster (`createCluster`), connected. Wake-ups use a second connection
   * made from it.
   */
  redis: SupportedRedisClient;
  /**
   * Names the semaphore: its keys are this plus a suffix, in one hash slot (this key's {hash tag},
   * or the whole key in braces when it has none).
   */
  key: string;
  /** Most leases at once, across every process: an integer >= 1. */
  limit: number;
  /** How long a lease lasts (ms, server time) unless extended: a crashed holder's slot frees after it. Default 60,000. */
  leaseTime?: number;
  /** Longest wait in ms for Redis to answer a call before it counts as failed. Default 1000. */
  timeout?: number;
  /**
   * What to do when Redis fails (an error, no connection, or no answer within `timeout`):
   * `'throw'` (default) rejects with a `RedisBucketError`; `'allow'` admits (a lease that holds no
   * slot); `'deny'` refuses (`RateLimitExceeded`); a local `Semaphore` is asked instead.
   */
  onRedisError?: RedisSemaphoreFailurePolicy;
  /**
   * After `failures` calls in a row fail for want of Redis, stop asking it for `resetAfter` ms
   * (calls go straight to `onRedisError`), then let one call probe it. Default: none.
   */
  circuitBreaker?: CircuitBreakerOptions;
  /**
   * Most callers of this process that may wait for a lease at once; past it, an acquire that would
   * wait is refused (`RateLimitExceeded`) unless a slot is free now. Default: unbounded.
   */
  maxWaiting?: number;
}

/** A held slot of a {@link RedisSemaphore}. */
export interface RedisLease {
  /** The lease's id in Redis. */
  readonly id: string;
  /** Whether {@link RedisLease.release} was called. */
  readonly released: boolean;
  /** Aborted (with a {@link LeaseExpired}) when an extend finds that the lease expired: its slot may be someone else's now. */
  readonly signal: AbortSignal;
  /** Frees the slot. Idempotent; rejects only under the failure policy `'throw'` (the lease then frees when it expires). */
  release(): Promise<void>;
  /** Renews the lease for `leaseTime` from now. Rejects with {@link LeaseExpired} if it had expired, or on a Redis failure. */
  extend(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
  /** Starts the release without waiting for it (prefer `await using`). */
  [Symbol.dispose](): void;
}

/** An extend found the lease expired (or released): the slot may belong to someone else now. */
export class LeaseExpired extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeaseExpired';
  }
}

const isLease = (lease: RedisLease | undefined): boolean => lease !== undefined;

/** A waiter not heard from for this long (ms) counts as gone: its process died or lost Redis. */
const WAITER_TIME = 5000;
/** A process with waiters asks for them at least this often (ms), renewing them: a missed wake-up costs at most this. */
const ASK_EVERY = 1000;
/** The most requests one acquire script call carries. */
const MAX_BATCH = 64;

const KEYS = ['redis', 'key', 'limit', 'leaseTime', 'timeout', 'onRedisError', 'circuitBreaker', 'maxWaiting'] as const;
const NO_WAIT = { maxWait: Infinity, signal: undefined } as const;

// Lease ids: unique per process (a random part) and per request (a counter).
const PROCESS_ID = randomBytes(6).toString('base64url');
let nextId = 0;

type Mode = 't' | 'w' | 'p';

/** One acquire (or tryAcquire) until it has its answer. */
interface Waiter {
  readonly id: string;
  readonly tryOnly: boolean;
  readonly maxWait: number;
  readonly signal: AbortSignal | undefined;
  readonly started: number;
  /** Refused for want of room in the queue: `maxWaiting`, else `undefined`. */
  readonly queueFull: number | undefined;
  resolve: (lease: RedisLease | undefined) => void;
  reject: (error: unknown) => void;
  /** Sent to Redis (so it may hold a lease or a place there). */
  sent: boolean;
  done: boolean;
  deadline: Sleeper | undefined;
  abort: (() => void) | undefined;
}

interface Release {
  readonly id: string;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Frees or renews a lease (set in RedisSemaphore's static block: they reach private members). */
let releaseLease: (semaphore: RedisSemaphore, id: string) => Promise<void>;
let extendLease: (semaphore: RedisSemaphore, id: string) => Promise<boolean>;

class RedisSemaphoreLease implements RedisLease {
  readonly id: string;
  #semaphore: RedisSemaphore | undefined;
  #released: Promise<void> | undefined;
  #controller: AbortController | undefined;

  constructor(semaphore: RedisSemaphore, id: string) {
    this.id = id;
    this.#semaphore = semaphore;
  }

  get released(): boolean {
    return this.#released !== undefined;
  }

  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }

  release(): Promise<void> {
    if (this.#released === undefined) {
      const semaphore = this.#semaphore!;
      this.#semaphore = undefined;
      this.#released = releaseLease(semaphore, this.id);
    }
    return this.#released;
  }

  extend(): Promise<void> {
    const semaphore = this.#semaphore;
    if (semaphore === undefined) return Promise.reject(new LeaseExpired(`lease ${this.id} was released: there is nothing to extend`));
    return extendLease(semaphore, this.id).then((held) => {
      if (held) return;
      const error = new LeaseExpired(`lease ${this.id} expired before it was extended: its slot may be someone else's now`);
      (this.#controller ??= new AbortController()).abort(error);
      throw error;
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  [Symbol.dispose](): void {
    this.release().catch(() => {}); // the lease frees itself when it expires
  }
}

/** A lease that holds no slot in Redis: what a failure policy admits with (`'allow'`, or a local fallback's lease). */
class LocalLease implements RedisLease {
  readonly id = '';
  readonly #local: Lease | undefined;
  #released = false;
  #controller: AbortController | undefined;

  constructor(local: Lease | undefined) {
    this.#local = local;
  }

  get released(): boolean {
    return this.#released;
  }

  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }

  release(): Promise<void> {
    this.#released = true;
    this.#local?.release();
    return Promise.resolve();
  }

  extend(): Promise<void> {
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  [Symbol.dispose](): void {
    void this.release();
  }
}

/**
 * At most `limit` holders at once across every process using the same Redis `key`. Leases expire
 * `leaseTime` ms (server time) after their last acquire or extend, so a crashed holder frees its
 * slot; {@link RedisSemaphore.run} extends while its function runs. Waiters are served in arrival
 * order across processes, woken by pub/sub rather than polling Redis.
 *
 * @example
 * const sem = new RedisSemaphore({ redis, key: 'api:slots', limit: 5 });
 * await sem.run(() => callTheApi());
 */
export class RedisSemaphore {
  /** Most leases at once. */
  readonly limit: number;
  /** How long a lease lasts unless extended (ms). */
  readonly leaseTime: number;
  /** The key the semaphore was named with. */
  readonly key: string;
  readonly #what: string;
  readonly #engine: RedisEngine;
  readonly #keys: readonly [string, string, string];
  readonly #channel: string;
  readonly #client: RedisClient;
  readonly #onFailure: SemaphoreFailureAnswer;
  /** Whether a failed release rejects (only under `'throw'`). */
  readonly #releaseThrows: boolean;
  readonly #timeout: number;
  readonly #maxWaiting: number;
  /** Deadlines, lease renewals and the next timed ask: one timer for all of them. */
  readonly #timers = new Sleepers();
  /** Waiters sent to Redis, or about to be, that have no answer yet; in arrival order. */
  readonly #waiters = new Map<string, Waiter>();
  #asks: { mode: Mode; waiter: Waiter }[] = [];
  #releases: Release[] = [];
  #flushQueued = false;
  #listening = false;
  /** Polls of every waiter: one gathered for the next call, one in flight, one more wanted after it. */
  #pollQueued = false;
  #polling = false;
  #pollAgain = false;
  #nextAsk: Sleeper | undefined;
  readonly #onWake = (message: string): void => {
    if (message === '' || message.split(' ').some((id) => this.#waiters.has(id))) this.#poll();
  };
  readonly #flush = (): void => this.#sendQueued();

  static {
    releaseLease = (semaphore, id) => new Promise<void>((resolve, reject) => {
      semaphore.#releases.push({ id, resolve, reject });
      semaphore.#queueFlush();
    });
    extendLease = (semaphore, id) => semaphore.#engine.call(semaphore.#what, SEMAPHORE_EXTEND,
      [3, ...semaphore.#keys, String(semaphore.leaseTime), id], (reply) => {
        if (reply !== '1' && reply !== '0') throw semaphore.#engine.unexpected('extend', reply, semaphore.#what);
        return reply === '1';
      });
  }

  constructor(options: RedisSemaphoreOptions) {
    const o = check.required<RedisSemaphoreOptions>(options, KEYS, '{ redis, key, limit }');
    const client = checkClient(o.redis);
    this.key = checkKeyName('key', o.key, 'names the semaphore in Redis');
    if (o.limit === undefined) throw new TypeError('limit is required: most leases at once (an integer >= 1)');
    this.limit = checkLimit(o.limit);
    this.leaseTime = o.leaseTime === undefined ? 60_000 : check.positive('leaseTime', o.leaseTime);
    if (this.leaseTime > MAX_TIMER_DELAY) throw new RangeError(`leaseTime must be at most ${MAX_TIMER_DELAY} ms (about 24.8 days), got ${this.leaseTime}`);
    this.#timeout = checkTimeout(o.timeout);
    this.#maxWaiting = check.maxWaiting(o.maxWaiting);
    this.#onFailure = checkSemaphoreFailurePolicy(o.onRedisError, this.#timeout);
    this.#releaseThrows = o.onRedisError === undefined || o.onRedisError === 'throw';
    this.#client = client;
    // One hash slot for all keys: the key's own tag, or the whole key as the tag.
    const base = hasHashTag(this.key) ? this.key : `{${this.key}}`;
    this.#keys = [`${base}:leases`, `${base}:queue`, `${base}:alive`];
    // Scripts publish on the channel named like their first key, which the client's keyPrefix (if any) starts.
    this.#channel = `${client.keyPrefix}${this.#keys[0]}`;
    this.#what = `RedisSemaphore ${JSON.stringify(this.key)}`;
    this.#engine = new RedisEngine(client, this.#timeout, () => {}, () => this, checkCircuitBreaker(o.circuitBreaker));
    for (const name of ['limit', 'leaseTime', 'key'] as const) Object.defineProperty(this, name, { writable: false, configurable: false });
  }

  /**
   * Resolves a {@link RedisLease} once a slot is free and every earlier waiter (in any process) has
   * had one. Rejects with `RateLimitExceeded` if none comes free within `maxWait` ms (`maxWait: 0`:
   * at once when full; `retryAfter` 0), with `signal.reason` on abort, and with a
   * `RedisBucketError` when Redis fails (unless `onRedisError` says otherwise).
   */
  acquire(options?: AcquireOptions): Promise<RedisLease> {
    const waited = this.#acquire(options);
    return decisionChannel.hasSubscribers ? watchWait(this, undefined, 1, realClock, waited) : waited;
  }

  #acquire(options: AcquireOptions | undefined): Promise<RedisLease> {
    try {
      const { maxWait, signal } = options === undefined ? NO_WAIT : check.acquireOptions(options);
      if (signal?.aborted) return Promise.reject(signal.reason);
      // Past maxWaiting, a lease now or a refusal: the request does not queue.
      const room = this.#waiters.size < this.#maxWaiting;
      return this.#ask(false, room ? maxWait : 0, signal, room ? undefined : this.#maxWaiting) as Promise<RedisLease>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** A lease now, or `undefined` (all slots held, or waiters queued); never waits for one. */
  tryAcquire(): Promise<RedisLease | undefined> {
    const asked = this.#ask(true, 0, undefined);
    return decisionChannel.hasSubscribers ? watchDecision(this, undefined, 1, asked, isLease) : asked;
  }

  /**
   * Acquires a lease (as {@link RedisSemaphore.acquire}), calls `fn` with it, extends it while `fn`
   * runs, and releases it when `fn`'s result settles. Resolves with `fn`'s result; a release that
   * fails leaves the lease to expire. If an extend finds the lease expired (Redis was unreachable
   * for longer than `leaseTime`), `lease.signal` aborts.
   */
  async run<T>(fn: (lease: RedisLease) => T | PromiseLike<T>, options?: AcquireOptions): Promise<Awaited<T>> {
    if (typeof fn !== 'function') throw new TypeError(`run needs a function, got ${check.show(fn)}`);
    const lease = await this.acquire(options);
    let renewal: Sleeper | undefined;
    let running = true;
    const renew = (ms: number): void => {
      renewal = this.#timers.add(`renew ${lease.id}`, ms, () => {
        lease.extend().then(() => {
          if (running) renew(this.leaseTime / 3);
        }, (error: unknown) => {
          // Expired: nothing left to renew. A Redis failure: try again soon, while the lease lasts.
          if (running && !(error instanceof LeaseExpired)) renew(Math.min(ASK_EVERY, this.leaseTime / 6));
        });
      });
    };
    if (lease instanceof RedisSemaphoreLease) renew(this.leaseTime / 3);
    try {
      return await fn(lease);
    } finally {
      running = false;
      if (renewal !== undefined) this.#timers.cancel(renewal);
      await lease.release().catch(() => {});
    }
  }

  /** Leases held now, across every process (unexpired). Rejects on a Redis failure. */
  inUse(): Promise<number> {
    return this.#count(0);
  }

  /** Waiters queued now, across every process. Rejects on a Redis failure. */
  waiting(): Promise<number> {
    return this.#count(1);
  }

  #count(which: 0 | 1): Promise<number> {
    return this.#engine.call(this.#what, SEMAPHORE_COUNT, [3, ...this.#keys], (reply) => {
      if (!Array.isArray(reply) || typeof reply[which] !== 'number') throw this.#engine.unexpected('count', reply, this.#what);
      return reply[which] as number;
    });
  }

  /** Queues an acquire (`tryOnly`: never waits) for the next script call. */
  #ask(tryOnly: boolean, maxWait: number, signal: AbortSignal | undefined, queueFull?: number): Promise<RedisLease | undefined> {
    return new Promise<RedisLease | undefined>((resolve, reject) => {
      const waiter: Waiter = {
        id: `${PROCESS_ID}:${(nextId++).toString(36)}`,
        tryOnly,
        maxWait,
        signal,
        started: performance.now(),
        resolve,
        reject,
        queueFull,
        sent: false,
        done: false,
        deadline: undefined,
        abort: undefined,
      };
      if (!tryOnly && maxWait > 0) {
        this.#waiters.set(waiter.id, waiter);
        if (maxWait !== Infinity) {
          waiter.deadline = this.#timers.add(waiter.id, maxWait, () => {
            waiter.deadline = undefined;
            this.#giveUp(waiter, new RateLimitExceeded(0, `concurrency limit reached: no slot of ${this.#what} came free within maxWait (${maxWait} ms)`));
          });
        }
        if (signal !== undefined) {
          waiter.abort = () => this.#giveUp(waiter, signal.reason);
          onAbort(signal, waiter.abort);
        }
      }
      this.#asks.push({ mode: tryOnly || maxWait === 0 ? 't' : 'w', waiter });
      this.#queueFlush();
    });
  }

  #queueFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    // As the buckets gather: once this tick's promise jobs have run.
    process.nextTick(this.#flush);
  }

  /** Sends the releases gathered this tick, then the asks: a slot freed here serves a request made here in the same call. */
  #sendQueued(): void {
    this.#flushQueued = false;
    this.#pollQueued = false;
    if (this.#releases.length > 0) {
      const releases = this.#releases;
      this.#releases = [];
      this.#sendReleases(releases);
    }
    let asks = this.#asks.filter((a) => !a.waiter.done);
    this.#asks = [];
    while (asks.length > 0) {
      this.#sendAsks(asks.slice(0, MAX_BATCH));
      asks = asks.slice(MAX_BATCH);
    }
  }

  #sendReleases(releases: Release[]): void {
    const args: string[] = ['3', ...this.#keys, String(this.limit)];
    for (const r of releases) args.push(r.id);
    this.#engine.send(this.#what, SEMAPHORE_RELEASE, args, (reply) => {
      if (typeof reply !== 'string' || reply.length !== releases.length) {
        this.#failReleases(releases, this.#engine.unexpected('release', reply, this.#what));
        return;
      }
      for (const r of releases) r.resolve();
    }, (error) => this.#failReleases(releases, error));
  }

  #failReleases(releases: Release[], error: RedisBucketError): void {
    // Only 'throw' makes a failed release an error: the lease frees itself when it expires.
    for (const r of releases) {
      if (!this.#releaseThrows) r.resolve();
      else r.reject(new RedisBucketError(`${error.message} (the lease frees itself when it expires)`, { cause: error.cause ?? error }));
    }
  }

  #sendAsks(asks: { mode: Mode; waiter: Waiter }[]): void {
    const args: string[] = ['3', ...this.#keys, String(this.limit), String(this.leaseTime), String(WAITER_TIME), this.#engine.notAfter()];
    let polls = false;
    for (const a of asks) {
      args.push(a.mode, a.waiter.id);
      a.waiter.sent = true;
      if (a.mode === 'p') polls = true;
    }
    if (polls) this.#polling = true;
    this.#engine.send(this.#what, SEMAPHORE_ACQUIRE, args, (reply) => {
      if (polls) this.#polling = false;
      if (!Array.isArray(reply) || typeof reply[0] !== 'string' || reply[0].length !== asks.length || typeof reply[1] !== 'string') {
        this.#failAsks(asks, this.#engine.unexpected('acquire', reply, this.#what));
        return;
      }
      const answers = reply[0];
      for (let i = 0; i < asks.length; i++) {
        const { mode, waiter } = asks[i]!;
        if (waiter.done) continue; // it gave up meanwhile: the release sent then frees what this got
        if (answers[i] === '1') this.#grant(waiter);
        else if (mode === 't') this.#refuse(waiter);
      }
      this.#afterAsk(reply[1] === 'inf' ? Infinity : Number(reply[1]));
    }, (error) => {
      if (polls) this.#polling = false;
      this.#failAsks(asks, error);
      this.#afterAsk(Infinity);
    });
  }

  /** After an ask's answer: keep listening and asking now and then while waiters remain. */
  #afterAsk(earliestExpiry: number): void {
    if (this.#waiters.size === 0) return;
    if (!this.#listening) {
      this.#listening = true;
      wakeUpsOf(this.#client).listen(this.#channel, this.#onWake);
    }
    if (this.#pollAgain) {
      this.#pollAgain = false;
      this.#poll();
      return;
    }
    // When the earliest lease expires a slot frees with nobody to announce it: ask then.
    this.#askIn(Math.min(ASK_EVERY, earliestExpiry + 1));
  }

  #askIn(ms: number): void {
    const next = this.#nextAsk;
    if (next !== undefined && next.until <= performance.now() + ms) return;
    if (next !== undefined) this.#timers.cancel(next);
    this.#nextAsk = this.#timers.add('ask', ms, () => {
      this.#nextAsk = undefined;
      this.#poll();
    });
  }

  /** Asks Redis whether the waiters' turn has come (and tells it they are still there). */
  #poll(): void {
    if (this.#waiters.size === 0 || this.#pollQueued) return;
    if (this.#polling) {
      this.#pollAgain = true;
      return;
    }
    for (const waiter of this.#waiters.values()) this.#asks.push({ mode: 'p', waiter });
    this.#pollQueued = true;
    this.#queueFlush();
  }

  #settle(waiter: Waiter): void {
    waiter.done = true;
    this.#waiters.delete(waiter.id);
    if (waiter.deadline !== undefined) this.#timers.cancel(waiter.deadline);
    if (waiter.abort !== undefined) offAbort(waiter.signal!, waiter.abort);
    if (this.#waiters.size === 0) this.#quiet();
  }

  /** No waiter left: no more wake-ups or timed asks. */
  #quiet(): void {
    this.#pollAgain = false;
    if (this.#nextAsk !== undefined) {
      this.#timers.cancel(this.#nextAsk);
      this.#nextAsk = undefined;
    }
    if (this.#listening) {
      this.#listening = false;
      wakeUpsOf(this.#client).unlisten(this.#channel, this.#onWake);
    }
  }

  #grant(waiter: Waiter): void {
    this.#settle(waiter);
    waiter.resolve(new RedisSemaphoreLease(this, waiter.id));
  }

  #refuse(waiter: Waiter): void {
    this.#settle(waiter);
    if (waiter.tryOnly) waiter.resolve(undefined);
    else if (waiter.queueFull !== undefined) waiter.reject(new RateLimitExceeded(0, `concurrency limit reached: all ${this.limit} slots of ${this.#what} are held, and ${waiter.queueFull} callers of this process already wait (maxWaiting)`));
    else waiter.reject(new RateLimitExceeded(0, `concurrency limit reached: all ${this.limit} slots of ${this.#what} are held`));
  }

  /** A waiter stops waiting (deadline, abort): whatever Redis holds for it goes. */
  #giveUp(waiter: Waiter, error: unknown): void {
    if (waiter.done) return;
    this.#settle(waiter);
    if (waiter.sent) this.#releaseQuietly(waiter.id);
    waiter.reject(error);
  }

  #releaseQuietly(id: string): void {
    this.#releases.push({ id, resolve: () => {}, reject: () => {} });
    this.#queueFlush();
  }

  /** Answers the asks of a failed call as the failure policy says; Redis is told to forget them. */
  #failAsks(asks: { mode: Mode; waiter: Waiter }[], error: RedisBucketError): void {
    for (const { waiter } of asks) {
      if (waiter.done) continue;
      this.#settle(waiter);
      // If the call still runs (or ran, and only its reply was lost), this removes what it did.
      this.#releaseQuietly(waiter.id);
      const left = Math.max(0, waiter.maxWait - (performance.now() - waiter.started));
      this.#onFailure(this, error, waiter.tryOnly, left, waiter.signal).then(
        (local) => waiter.resolve(local === undefined ? undefined : new LocalLease(local ?? undefined)),
        waiter.reject,
      );
    }
  }
}

markKind(RedisSemaphore, 'semaphore');
