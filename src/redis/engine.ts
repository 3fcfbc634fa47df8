// Everything that talks to Redis for a limiter: one script call per command, each with a deadline
// of our own (redis-call.ts); takes told when their caller stops waiting, in server time
// (server-clock.ts), so that one the server runs later changes nothing, and one whose reply comes
// after its caller had its answer given back; non-waiting takes gathered per tick, across keys (per
// hash slot on a Cluster: gather.ts); and this process's commands reaching a key in the order they
// were made.

import type { FailureAnswer } from './failure-policy.js';
import { limitDecision } from '../core/decision.js';
import type { Decision, LimitDecision } from '../types.js';
import { Gatherer, type Batch } from './gather.js';
import { redisErrorChannel, type RedisErrorEvent } from '../events.js';
import { Circuit, type CircuitBreakerOptions } from './circuit.js';
import { RedisBucketError, TimedCalls, nameOf, type CallWatch } from './redis-call.js';
import type { LuaScript, RedisClient } from './client.js';
import { CREATE, PEEK, REFUND, TAKE, TAKE_CHAINS, TAKE_MANY, TAKE_ONE } from './scripts.js';
import { ServerClock } from './server-clock.js';
import { hashSlot } from './slots.js';
import { isOneKeyOneLimit, type RedisTarget } from './target.js';

/** What a take did: 1 took the tokens, 2 reserved them (the caller's once its wait has passed), 0 refused. */
export type TakeStatus = 0 | 1 | 2;

/** `performance` held once: Node 20 resolves the global through a getter on every access. */
const clock = globalThis.performance;

// One estimate of the server's clock per client, shared by every limiter using it.
const serverClocks = new WeakMap<RedisClient, ServerClock>();

/** Runs one limiter's commands on one client, each within `timeout` ms. */
export class RedisEngine {
  readonly #client: RedisClient;
  readonly #timeout: number;
  readonly #calls: TimedCalls;
  readonly #serverClock: ServerClock;
  readonly #gathered: Gatherer;
  readonly #onCleared: (key: string, ms: number) => void;
  /** The limiter these calls are made for, as events name it. */
  readonly #owner: () => object;

  /**
   * `onCleared(leafKey, ms)` hears after every refund that no reservation on the chain of
   * `leafKey` is unearned `ms` from now: waiters sleeping on them need not sleep longer. `owner`
   * is the limiter object events name; `circuitBreaker`, if given, stops calls while Redis is away.
   */
  constructor(client: RedisClient, timeout: number, onCleared: (key: string, ms: number) => void, owner: () => object,
    circuitBreaker?: CircuitBreakerOptions) {
    this.#client = client;
    this.#timeout = timeout;
    this.#owner = owner;
    this.#calls = new TimedCalls(timeout, watchCalls(owner, circuitBreaker), (error) => client.isErrorReply(error));
    this.#onCleared = onCleared;
    // A script may touch any keys of a standalone server, only one hash slot's on a Cluster.
    this.#gathered = new Gatherer((batch) => this.#sendBatch(batch), client.cluster ? hashSlot : oneGroup);
    let serverClock = serverClocks.get(client);
    if (serverClock === undefined) serverClocks.set(client, (serverClock = new ServerClock(client)));
    this.#serverClock = serverClock;
  }

  /**
   * A take that does not wait: `true` if taken; on a Redis failure, what `answer` says. Takes are
   * gathered until the end of the tick, then sent as one script call per hash slot.
   */
  takeNow(t: RedisTarget, n: number, answer: FailureAnswer): Promise<boolean> {
    if (n > 0) return this.#gathered.add(t, n, answer);
    return new Promise<boolean>((resolve) => {
      this.take(t, n, 0, (status) => resolve(status === 1), (error) => resolve(answer.take(this.#owner(), error, n)));
    });
  }

  /**
   * A take that does not wait, answered with the whole decision (levels after it, waits); on a
   * Redis failure, what `answer` decides. Gathered like {@link takeNow}.
   */
  decide(t: RedisTarget, n: number, answer: FailureAnswer): Promise<Decision> {
    return this.#gathered.addDecision(t, n, answer);
  }

  /**
   * One take script: takes `n` tokens, or reserves them if they arrive within `maxWait` ms, or
   * refuses; `onResult(status, wait)` hears which. `onError` hears a failure (a
   * {@link RedisBucketError}); after it, whatever the script still took is given back.
   */
  take(t: RedisTarget, n: number, maxWait: number, onResult: (status: TakeStatus, wait: number) => void, onError: (error: unknown) => void): void {
    this.#gathered.sendFirst(t.keys);
    // One key with one limit (the common case) has a lean script of its own: same arguments.
    const script = isOneKeyOneLimit(t) ? TAKE_ONE : TAKE;
    // A take of 0 writes nothing that matters late; it is never stale.
    const args = takeArgs(t, n > 0 ? this.notAfter() : NO_LIMIT, n, maxWait);
    this.#calls.send(() => this.#client.run(script, args), t, (reply) => {
      let status: TakeStatus;
      let wait: number;
      try {
        [status, wait] = this.#parseTake(reply, t);
      } catch (error) {
        onError(error);
        return;
      }
      onResult(status, wait);
    }, onError, (reply) => {
      // The caller had its answer (a timeout): what the late take got goes back.
      if (n > 0 && takenLate(reply)) this.refund(t, n);
    });
  }

  /** Reads the wait for `n` tokens and the lowest level on `t` (read-only); rejects on a Redis failure. */
  peek<T>(t: RedisTarget, n: number, pick: (wait: number, lowest: number) => T): Promise<T> {
    return this.#run(PEEK, [t.keys.length, ...t.keys, String(n), ...t.limitArgs], t, (reply) => {
      if (!Array.isArray(reply) || reply.length !== 2) throw this.unexpected('peek', reply, t.what);
      return pick(parseNumber(reply[0]), parseNumber(reply[1]));
    });
  }

  /**
   * Starts the buckets of `t` that Redis holds no state for, at server time now. Best effort: if
   * it fails, their first request starts them instead.
   */
  create(t: RedisTarget): void {
    this.#run(CREATE, [t.keys.length, ...t.keys, ...t.limitArgs], t, ignore, ignore);
  }

  /** Gives `n` reserved tokens back. A failure loses them until time pays them back: never over-admits. */
  refund(t: RedisTarget, n: number): void {
    this.#run(REFUND, [t.keys.length, ...t.keys, String(n), ...t.limitArgs], t, (reply) => {
      const clear = parseNumber(reply);
      if (clear >= 0) this.#onCleared(t.keys[0]!, clear);
    }, ignore);
  }

  /**
   * Moves every level of `t` by `delta` tokens, atomically: a reward (> 0, never above a capacity)
   * or a penalty (< 0, below 0 if need be). Rejects on a Redis failure, whatever the policy.
   */
  adjust(t: RedisTarget, delta: number): Promise<void> {
    return this.#run(REFUND, [t.keys.length, ...t.keys, String(delta), ...t.limitArgs], t, (reply) => {
      const clear = parseNumber(reply);
      if (Number.isNaN(clear)) throw this.unexpected('refund', reply, t.what);
      if (clear >= 0) this.#onCleared(t.keys[0]!, clear);
    });
  }

  /** Runs another Redis call (`start`) on the keys of `t`, with this engine's timeout and errors. */
  run<T>(t: RedisTarget, start: () => Promise<unknown>, onReply: (reply: unknown) => T): Promise<T> {
    this.#gathered.sendFirst(t.keys);
    return this.#calls.run(start, t, onReply);
  }

  /**
   * Runs `script` (keys and arguments in `args`, key count first) for a limiter of
   * another shape (a semaphore): exactly one of `onReply` or `onError` within the timeout, and
   * `onLate` for a reply that comes after it (what the call took must then go back).
   */
  send(what: string, script: LuaScript, args: (string | number)[], onReply: (reply: unknown) => void,
    onError: (error: RedisBucketError) => void, onLate?: (reply: unknown) => void): void {
    this.#calls.send(() => this.#client.run(script, args), what, onReply, onError, onLate);
  }

  /** {@link send} as a promise of `onReply(reply)`; rejects on a failure or when `onReply` throws. */
  call<T>(what: string, script: LuaScript, args: (string | number)[], onReply: (reply: unknown) => T): Promise<T> {
    return this.#calls.run(() => this.#client.run(script, args), what, onReply);
  }

  /** What a reply that is not one of `script`'s fails with (`'stale'`: the server's clock ran ahead of our estimate). */
  unexpected(script: string, reply: unknown, what: string): RedisBucketError {
    if (reply !== STALE) return new RedisBucketError(`${what}: unexpected reply from the ${script} script: ${JSON.stringify(reply)}`);
    // The server ran the call after the time we computed for the end of its caller's wait, but the
    // caller still waits: the server's clock is ahead of our estimate. Measure it again.
    this.#serverClock.resample();
    return new RedisBucketError(`${what}: Redis judged the call too late to run before its caller stopped waiting (the server's clock moved ahead; it is being measured again)`);
  }

  #run<T>(script: LuaScript, args: (string | number)[], t: RedisTarget, onReply: (reply: unknown) => T,
    onFailure?: (error: RedisBucketError) => T): Promise<T> {
    this.#gathered.sendFirst(t.keys);
    return this.#calls.run(() => this.#client.run(script, args), t, onReply, onFailure);
  }

  /**
   * Sends gathered takes: a lone one as a take, several (of any keys of one slot) as one
   * take-many, or take-chains when they are not all on one key with the same one limit.
   */
  #sendBatch(batch: Batch): void {
    const size = batch.size;
    const first = batch.target(0);
    const notAfter = this.notAfter();
    let script: LuaScript;
    let args: (string | number)[];
    if (batch.detailed) {
      // Some caller wants the levels after its decision: only the general script reports them.
      script = TAKE_CHAINS;
      args = takeChainsArgs(batch, notAfter, true);
    } else if (size === 1) {
      script = isOneKeyOneLimit(first) ? TAKE_ONE : TAKE;
      args = takeArgs(first, notAfter, batch.n(0), 0);
    } else if (batch.sharedLimit !== undefined) {
      script = TAKE_MANY;
      args = takeManyArgs(batch, batch.sharedLimit, notAfter);
    } else {
      script = TAKE_CHAINS;
      args = takeChainsArgs(batch, notAfter, false);
    }
    this.#calls.send(() => this.#client.run(script, args), first, (reply) => {
      if (batch.detailed) {
        this.#answerDetailed(batch, reply);
        return;
      }
      let taken: string;
      try {
        taken = size === 1 ? (this.#parseTake(reply, first)[0] === 1 ? '1' : '0') : this.#parseTakeMany(reply, size, first);
      } catch (error) {
        batch.fail(error, this.#owner());
        return;
      }
      for (let i = 0; i < size; i++) {
        const answer = taken.charCodeAt(i);
        if (answer === 101) batch.failOne(i, notAState(batch.target(i)), this.#owner()); // 'e'
        else batch.answer(i, answer === 49); // '1'
      }
    }, (error) => batch.fail(error, this.#owner()), (reply) => {
      // Every caller had its answer: whatever the late batch took goes back, one refund per chain.
      if (batch.detailed) {
        reply = Array.isArray(reply) ? walkDetailed(batch, reply, () => {}) ?? '' : '';
      } else if (size === 1) {
        if (takenLate(reply)) this.refund(first, batch.n(0));
        return;
      }
      if (typeof reply !== 'string' || reply.length !== size) return;
      const late = new Map<string, { t: RedisTarget; n: number }>();
      for (let i = 0; i < size; i++) {
        if (reply.charCodeAt(i) !== 49) continue;
        const t = batch.target(i);
        const chain = t.keys.length === 1 ? t.keys[0]! : t.keys.join('\n');
        const entry = late.get(chain);
        if (entry === undefined) late.set(chain, { t, n: batch.n(i) });
        else entry.n += batch.n(i);
      }
      for (const { t, n } of late.values()) this.refund(t, n);
    });
  }

  /** Answers a batch from take-chains' reply in full: decisions to those who want them, booleans to the others. */
  #answerDetailed(batch: Batch, reply: unknown): void {
    const decisions: (Decision | undefined)[] = [];
    const taken = Array.isArray(reply) ? walkDetailed(batch, reply, (i, d) => (decisions[i] = d)) : undefined;
    if (taken === undefined) {
      batch.fail(this.unexpected('take', reply, batch.target(0).what), this.#owner());
      return;
    }
    for (let i = 0; i < batch.size; i++) {
      const answer = taken.charCodeAt(i);
      if (answer === 101) batch.failOne(i, notAState(batch.target(i)), this.#owner()); // 'e'
      else batch.answer(i, batch.wantsDecision(i) ? decisions[i]! : answer === 49);
    }
  }

  /**
   * The server time after which a take sent now is stale: its caller gives up `timeout` ms from
   * now, and one more `timeout` absorbs any error in the estimate of the server's clock. A take that
   * runs later changes nothing; one that runs between the two is given back when its reply comes.
   */
  notAfter(): string {
    return msArg(Math.ceil(this.#serverClock.serverTime(clock.now() + 2 * this.#timeout)));
  }

  /** `[status, wait ms]` from a take reply; a reply that is not one is a failure. */
  #parseTake(reply: unknown, t: RedisTarget): readonly [TakeStatus, number] {
    if (reply === 1) return TAKEN; // the one-key script's short answer for "taken"
    if (!Array.isArray(reply) || reply.length !== 3 || (reply[0] !== 0 && reply[0] !== 1 && reply[0] !== 2)) {
      throw this.unexpected('take', reply, t.what);
    }
    return [reply[0], parseNumber(reply[1])];
  }

  /** One '1' (taken), '0' (refused) or 'e' (not a bucket state) per request, from the take-many script. */
  #parseTakeMany(reply: unknown, count: number, t: RedisTarget): string {
    if (typeof reply !== 'string' || reply.length !== count || !/^[01e]*$/.test(reply)) throw this.unexpected('take', reply, t.what);
    return reply;
  }
}

const ignore = (): void => {};

/** How a limiter's calls are watched: the redis-error event, and the circuit breaker if there is one. */
function watchCalls(owner: () => object, options: CircuitBreakerOptions | undefined): CallWatch {
  const circuit = options === undefined ? undefined : new Circuit(options, owner);
  return {
    admit: (what) => {
      if (circuit === undefined || circuit.admit()) return undefined;
      return new RedisBucketError(`${nameOf(what)}: Redis not asked: the circuit breaker opened after ${options!.failures} failed calls in a row (one call probes Redis again in ${Math.ceil(circuit.retryIn)} ms)`);
    },
    answered: () => circuit?.succeeded(),
    failed: (error, unreachable) => {
      if (redisErrorChannel.hasSubscribers) redisErrorChannel.publish({ bucket: owner(), error } satisfies RedisErrorEvent);
      if (unreachable) circuit?.failed();
      else circuit?.succeeded();
    },
  };
}
const oneGroup = (): number => 0;


/** What a take on a key that holds something else than a bucket state fails with (as the scripts' own error). */
function notAState(t: RedisTarget): RedisBucketError {
  const which = t.keys.length === 1 ? `key ${t.keys[0]}` : `a key of ${t.keys.join(', ')}`;
  return new RedisBucketError(`${t.what}: Redis call failed: bucketflow: ${which} holds a value that is not a bucket state`);
}

/** The reply of a take that ran too late to matter: it changed nothing. */
const STALE = 'stale';

/** The scripts' word for "no limit" (a maxWait, a not-after time): Lua's tonumber reads it as infinity. */
const NO_LIMIT = 'inf';

/** A duration or time argument (ms): `Infinity` as {@link NO_LIMIT}. */
const msArg = (ms: number): string => (ms === Infinity ? NO_LIMIT : String(ms));

/** Arguments of the take scripts: key count, keys, not after, n, maxWait, the limits of each key. */
function takeArgs(t: RedisTarget, notAfter: string, n: number, maxWait: number): (string | number)[] {
  return [t.keys.length, ...t.keys, notAfter, String(n), msArg(maxWait), ...t.limitArgs];
}

/**
 * Arguments of take-many for a batch whose requests are each on one key with `limit`. KEYS: the
 * one key, or each request's key; ARGV: not after, the limit, the number of requests, then the
 * tokens they all want or each one's.
 */
function takeManyArgs(batch: Batch, limit: readonly string[], notAfter: string): (string | number)[] {
  const size = batch.size;
  const oneKey = batch.oneKey;
  const args: (string | number)[] = oneKey !== undefined ? [1, oneKey] : [size];
  if (oneKey === undefined) for (let i = 0; i < size; i++) args.push(batch.target(i).keys[0]!);
  args.push(notAfter, ...limit, size);
  const n = batch.n(0);
  let same = true;
  for (let i = 1; i < size && same; i++) same = batch.n(i) === n;
  if (same) args.push(String(n));
  else for (let i = 0; i < size; i++) args.push(String(batch.n(i)));
  return args;
}

/**
 * Arguments of take-chains. KEYS: every key of the batch once; ARGV: not after, whether to reply
 * in full, each key's limits (taken from the first request on it), the number of requests, then
 * per request its tokens, its chain's length and the index of each of its keys.
 */
function takeChainsArgs(batch: Batch, notAfter: string, full: boolean): (string | number)[] {
  const index = new Map<string, number>();
  const limits: string[] = [];
  const requests: string[] = [String(batch.size)];
  for (let i = 0; i < batch.size; i++) {
    const t = batch.target(i);
    requests.push(String(batch.n(i)), String(t.keys.length));
    let a = 0;
    for (const key of t.keys) {
      const next = a + 1 + 3 * Number(t.limitArgs[a]);
      let k = index.get(key);
      if (k === undefined) {
        index.set(key, (k = index.size + 1));
        for (let j = a; j < next; j++) limits.push(t.limitArgs[j]!);
      }
      requests.push(String(k));
      a = next;
    }
  }
  return [index.size, ...index.keys(), notAfter, full ? '1' : '0', ...limits, ...requests];
}

/**
 * Reads take-chains' reply in full: hands each decided request's {@link Decision} to `onDecision`
 * and returns one character per request ('1', '0', 'e'), or `undefined` for a reply that is not
 * one (its shape does not fit the batch).
 */
function walkDetailed(batch: Batch, reply: readonly unknown[], onDecision: (i: number, d: Decision) => void): string | undefined {
  let at = 0;
  let taken = '';
  for (let i = 0; i < batch.size; i++) {
    const answer = reply[at++];
    if (answer !== '1' && answer !== '0' && answer !== 'e') return undefined;
    taken += answer;
    if (answer === 'e') continue;
    const t = batch.target(i);
    const n = batch.n(i);
    const allowed = answer === '1';
    const wait = parseNumber(reply[at++]);
    let remaining = Infinity;
    let resetAfter = 0;
    const limits: LimitDecision[] = [];
    for (const limit of t.limits) {
      const level = parseNumber(reply[at++]);
      if (Number.isNaN(level)) return undefined;
      const part = limitDecision(limit, level);
      limits.push(part);
      if (part.remaining < remaining) remaining = part.remaining;
      if (part.resetAfter > resetAfter) resetAfter = part.resetAfter;
    }
    // A request above a capacity can never pass, however long it waits.
    const retryAfter = allowed ? 0 : n > t.capacity ? Infinity : wait;
    onDecision(i, { allowed, remaining, retryAfter, resetAfter, limits });
  }
  return at === reply.length ? taken : undefined;
}

/** Whether a late reply (to a take whose caller had its answer) says it took or reserved tokens. */
function takenLate(reply: unknown): boolean {
  return reply === 1 || (Array.isArray(reply) && (reply[0] === 1 || reply[0] === 2));
}

/** A number the scripts format with %.17g ("inf" and "-inf" for the infinities). */
function parseNumber(value: unknown): number {
  if (value === 'inf') return Infinity;
  if (value === '-inf') return -Infinity;
  return typeof value === 'string' || typeof value === 'number' ? Number(value) : Number.NaN;
}

/** `[status, wait]` of the one-key script's short answer for "taken". */
const TAKEN = [1, 0] as const;
