// Everything that talks to Redis for a limiter: one script call per command, each with a deadline
// of our own (redis-call.ts); takes told when their caller stops waiting, in server time
// (server-clock.ts), so that one the server runs later changes nothing, and one whose reply comes
// after its caller had its answer given back; non-waiting takes of one key gathered per tick
// (gather.ts); and this process's commands reaching a key in the order they were made.

import type { FailureAnswer } from './failure-policy.js';
import { Gatherer, type Batch } from './gather.js';
import { RedisBucketError, TimedCalls } from './redis-call.js';
import {
  CREATE_COMMAND,
  PEEK_COMMAND,
  REFUND_COMMAND,
  TAKE_COMMAND,
  TAKE_MANY_COMMAND,
  TAKE_ONE_COMMAND,
  callScript,
  defineScripts,
  type ScriptClient,
} from './scripts.js';
import { ServerClock } from './server-clock.js';
import { isOneKeyOneLimit, type RedisTarget } from './target.js';

/** What a take did: 1 took the tokens, 2 reserved them (the caller's once its wait has passed), 0 refused. */
export type TakeStatus = 0 | 1 | 2;

/** `performance` held once: Node 20 resolves the global through a getter on every access. */
const clock = globalThis.performance;

// One estimate of the server's clock per client, shared by every limiter using it.
const serverClocks = new WeakMap<ScriptClient, ServerClock>();

/** Runs one limiter's commands on one client, each within `timeout` ms. */
export class RedisEngine {
  readonly #client: ScriptClient;
  readonly #timeout: number;
  readonly #calls: TimedCalls;
  readonly #serverClock: ServerClock;
  readonly #gathered = new Gatherer((batch) => this.#sendBatch(batch));
  readonly #onCleared: (key: string, ms: number) => void;

  /**
   * `onCleared(leafKey, ms)` hears after every refund that no reservation on the chain of
   * `leafKey` is unearned `ms` from now: waiters sleeping on them need not sleep longer.
   */
  constructor(client: ScriptClient, timeout: number, onCleared: (key: string, ms: number) => void) {
    this.#client = client;
    this.#timeout = timeout;
    this.#calls = new TimedCalls(timeout);
    this.#onCleared = onCleared;
    let serverClock = serverClocks.get(client);
    if (serverClock === undefined) serverClocks.set(client, (serverClock = new ServerClock(client)));
    this.#serverClock = serverClock;
    defineScripts(client);
  }

  /**
   * A take that does not wait: `true` if taken; on a Redis failure, what `answer` says. Takes of
   * one key with one limit are gathered until the end of the tick, then sent as one script call.
   */
  takeNow(t: RedisTarget, n: number, answer: FailureAnswer): Promise<boolean> {
    if (n > 0 && isOneKeyOneLimit(t)) return this.#gathered.add(t, n, answer);
    return new Promise<boolean>((resolve) => {
      this.take(t, n, 0, (status) => resolve(status === 1), (error) => resolve(answer.take(error, n)));
    });
  }

  /**
   * One take script: takes `n` tokens, or reserves them if they arrive within `maxWait` ms, or
   * refuses; `onResult(status, wait)` hears which. `onError` hears a failure (a
   * {@link RedisBucketError}); after it, whatever the script still took is given back.
   */
  take(t: RedisTarget, n: number, maxWait: number, onResult: (status: TakeStatus, wait: number) => void, onError: (error: unknown) => void): void {
    this.#gathered.sendFirst(t.keys);
    // One key with one limit (the common case) has a lean script of its own: same arguments.
    const command = isOneKeyOneLimit(t) ? TAKE_ONE_COMMAND : TAKE_COMMAND;
    // A take of 0 writes nothing that matters late; it is never stale.
    const args = takeArgs(t, n > 0 ? this.#notAfter() : NO_LIMIT, n, maxWait);
    this.#calls.send(() => callScript(this.#client, command, args), t, (reply) => {
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
    return this.#run(PEEK_COMMAND, [t.keys.length, ...t.keys, String(n), ...t.limitArgs], t, (reply) => {
      if (!Array.isArray(reply) || reply.length !== 2) throw this.#unexpected('peek', reply, t);
      return pick(parseNumber(reply[0]), parseNumber(reply[1]));
    });
  }

  /**
   * Starts the buckets of `t` that Redis holds no state for, at server time now. Best effort: if
   * it fails, their first request starts them instead.
   */
  create(t: RedisTarget): void {
    this.#run(CREATE_COMMAND, [t.keys.length, ...t.keys, ...t.limitArgs], t, ignore, ignore);
  }

  /** Gives `n` reserved tokens back. A failure loses them until time pays them back: never over-admits. */
  refund(t: RedisTarget, n: number): void {
    this.#run(REFUND_COMMAND, [t.keys.length, ...t.keys, String(n), ...t.limitArgs], t, (reply) => {
      const clear = parseNumber(reply);
      if (clear >= 0) this.#onCleared(t.keys[0]!, clear);
    }, ignore);
  }

  /** Runs another Redis call (`start`) on the keys of `t`, with this engine's timeout and errors. */
  run<T>(t: RedisTarget, start: () => Promise<unknown>, onReply: (reply: unknown) => T): Promise<T> {
    this.#gathered.sendFirst(t.keys);
    return this.#calls.run(start, t, onReply);
  }

  #run<T>(command: string, args: (string | number)[], t: RedisTarget, onReply: (reply: unknown) => T,
    onFailure?: (error: RedisBucketError) => T): Promise<T> {
    this.#gathered.sendFirst(t.keys);
    return this.#calls.run(() => callScript(this.#client, command, args), t, onReply, onFailure);
  }

  /** Sends one key's gathered takes: alone as a take, or together as one take-many. */
  #sendBatch(batch: Batch): void {
    const { t, size } = batch;
    const notAfter = this.#notAfter();
    let command: string;
    let args: (string | number)[];
    if (size === 1) {
      command = TAKE_ONE_COMMAND;
      args = takeArgs(t, notAfter, batch.n(0), 0);
    } else {
      command = TAKE_MANY_COMMAND;
      args = [1, t.keys[0]!, notAfter, ...t.limitArgs];
      for (let i = 0; i < size; i++) args.push(String(batch.n(i)));
    }
    this.#calls.send(() => callScript(this.#client, command, args), t, (reply) => {
      let taken: string;
      try {
        taken = size === 1 ? (this.#parseTake(reply, t)[0] === 1 ? '1' : '0') : this.#parseTakeMany(reply, size, t);
      } catch (error) {
        batch.fail(error);
        return;
      }
      for (let i = 0; i < size; i++) batch.answer(i, taken.charCodeAt(i) === 49); // '1'
    }, (error) => batch.fail(error), (reply) => {
      // Every caller had its answer: whatever the late batch took goes back, in one refund.
      let late = 0;
      if (size === 1) {
        if (takenLate(reply)) late = batch.n(0);
      } else if (typeof reply === 'string' && reply.length === size) {
        for (let i = 0; i < size; i++) if (reply.charCodeAt(i) === 49) late += batch.n(i);
      }
      if (late > 0) this.refund(t, late);
    });
  }

  /**
   * The server time after which a take sent now is stale: its caller gives up `timeout` ms from
   * now, and one more `timeout` absorbs any error in the estimate of the server's clock. A take that
   * runs later changes nothing; one that runs between the two is given back when its reply comes.
   */
  #notAfter(): string {
    return msArg(Math.ceil(this.#serverClock.serverTime(clock.now() + 2 * this.#timeout)));
  }

  /** `[status, wait ms]` from a take reply; a reply that is not one is a failure. */
  #parseTake(reply: unknown, t: RedisTarget): readonly [TakeStatus, number] {
    if (reply === 1) return TAKEN; // the one-key script's short answer for "taken"
    if (!Array.isArray(reply) || reply.length !== 3 || (reply[0] !== 0 && reply[0] !== 1 && reply[0] !== 2)) {
      throw this.#unexpected('take', reply, t);
    }
    return [reply[0], parseNumber(reply[1])];
  }

  /** One '1' (taken) or '0' (refused) per request, from the reply of the take-many script. */
  #parseTakeMany(reply: unknown, count: number, t: RedisTarget): string {
    if (typeof reply !== 'string' || reply.length !== count || !/^[01]*$/.test(reply)) throw this.#unexpected('take', reply, t);
    return reply;
  }

  #unexpected(script: string, reply: unknown, t: RedisTarget): RedisBucketError {
    if (reply !== STALE) return new RedisBucketError(`${t.what}: unexpected reply from the ${script} script: ${JSON.stringify(reply)}`);
    // The server ran the take after the time we computed for the end of its caller's wait, but the
    // caller still waits: the server's clock is ahead of our estimate. Measure it again.
    this.#serverClock.resample();
    return new RedisBucketError(`${t.what}: Redis judged the call too late to run before its caller stopped waiting (the server's clock moved ahead; it is being measured again)`);
  }
}

const ignore = (): void => {};

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
