// This process's estimate of the Redis server's clock, so that a take script can be told when its
// caller stops waiting for it ("do nothing if you run after server time X"). Commands that reach the
// server long after they were sent (queued by the client while it reconnects, or by a server that
// was paused) then change nothing, instead of taking tokens for callers that have had their answer
// and refusing real requests behind them.
//
// The server reads its clock somewhere between our sending TIME and reading the reply, so
// `server time - local send time` is an upper bound of the offset between the two clocks: a
// deadline moved by it is never earlier than the true one. Anything estimated wrong the other way
// (a server clock that stepped forward since the last sample) is caught by the reply: a call told
// it is stale before its local deadline has passed fails loudly and forces a new sample.

import type { RedisClient } from './client.js';

/** How often the offset is measured again while calls are being made (ms). */
const RESAMPLE_EVERY = 5000;

/** `performance` held once: Node 20 resolves the global through a getter on every access. */
const clock = globalThis.performance;

export class ServerClock {
  readonly #client: Pick<RedisClient, 'time'>;
  /** Upper bound of `server ms - local ms`; NaN until the first sample answers. */
  #offset = Number.NaN;
  #sampledAt = -Infinity;
  #sampling = false;

  constructor(client: Pick<RedisClient, 'time'>) {
    this.#client = client;
    this.#sample();
  }

  /**
   * Server time (ms) matching local `performance.now()` time `local`, never earlier than it;
   * `Infinity` while no sample has answered (nothing is then judged stale).
   */
  serverTime(local: number): number {
    if (local - this.#sampledAt > RESAMPLE_EVERY) this.#sample();
    return Number.isNaN(this.#offset) ? Infinity : local + this.#offset;
  }

  /** The estimate is wrong (a call was judged stale too early): measure again now. */
  resample(): void {
    this.#sampledAt = -Infinity;
    this.#sample();
  }

  #sample(): void {
    if (this.#sampling) return;
    this.#sampling = true;
    const sent = clock.now();
    this.#sampledAt = sent;
    let reply: Promise<unknown>;
    try {
      reply = this.#client.time();
    } catch {
      this.#sampling = false;
      return;
    }
    reply.then((t) => {
      this.#sampling = false;
      if (!Array.isArray(t) || t.length !== 2) return;
      const server = Number(t[0]) * 1000 + Number(t[1]) / 1000;
      if (Number.isFinite(server)) this.#offset = server - sent;
    }, () => {
      // Redis is away: the next call after RESAMPLE_EVERY tries again.
      this.#sampling = false;
    });
  }
}
