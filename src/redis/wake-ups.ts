// Wake-ups for Redis semaphore waiters: a slot freed in one process is announced on a channel
// (pub/sub), so waiters elsewhere ask for it at once instead of polling Redis. One subscriber
// connection per client, shared by every semaphore using that client, open only while some
// semaphore of this process has waiters.

import type { RedisClient, Subscriber } from './client.js';

/** Hears the ids of the waiters whose turn has come, or `''`: messages may have been missed. */
export type WakeListener = (message: string) => void;

/**
 * How long a subscriber connection with no channel left stays open (ms): a semaphore that is
 * contended now and then does not reconnect each time. Its timer does not hold the process open,
 * but the connection does, for this long at most.
 */
const LINGER_MS = 1000;

class WakeUps {
  readonly #client: RedisClient;
  #connection: Subscriber | undefined;
  readonly #channels = new Map<string, Set<WakeListener>>();
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(client: RedisClient) {
    this.#client = client;
  }

  /**
   * Calls `listener` with every message on `channel`, and with `''` once the subscription is
   * active (and again after each reconnection): a message sent before then was missed.
   */
  listen(channel: string, listener: WakeListener): void {
    if (this.#closeTimer !== undefined) {
      clearTimeout(this.#closeTimer);
      this.#closeTimer = undefined;
    }
    let listeners = this.#channels.get(channel);
    if (listeners !== undefined) {
      listeners.add(listener);
      return;
    }
    this.#channels.set(channel, (listeners = new Set([listener])));
    const connection = this.#connect();
    connection.subscribe(channel).then(() => {
      for (const l of this.#channels.get(channel) ?? []) l('');
    }, () => {
      // Not subscribed (the connection failed): the waiters' own timed asks still serve them.
    });
  }

  unlisten(channel: string, listener: WakeListener): void {
    const listeners = this.#channels.get(channel);
    if (listeners === undefined || !listeners.delete(listener) || listeners.size > 0) return;
    this.#channels.delete(channel);
    const connection = this.#connection;
    if (connection === undefined) return;
    connection.unsubscribe(channel).catch(() => {});
    if (this.#channels.size === 0) {
      this.#closeTimer = setTimeout(() => {
        this.#closeTimer = undefined;
        if (this.#channels.size > 0 || this.#connection !== connection) return;
        this.#connection = undefined;
        connection.close();
      }, LINGER_MS);
      this.#closeTimer.unref();
    }
  }

  #connect(): Subscriber {
    if (this.#connection !== undefined) return this.#connection;
    const connection = this.#client.subscriber({
      message: (channel, message) => {
        for (const l of this.#channels.get(channel) ?? []) l(message);
      },
      // Whatever was sent while the connection was away was missed.
      reconnected: () => {
        for (const listeners of this.#channels.values()) for (const l of listeners) l('');
      },
    });
    this.#connection = connection;
    return connection;
  }
}

const byClient = new WeakMap<RedisClient, WakeUps>();

/** The wake-ups of `client`'s semaphores in this process. */
export function wakeUpsOf(client: RedisClient): WakeUps {
  let w = byClient.get(client);
  if (w === undefined) byClient.set(client, (w = new WakeUps(client)));
  return w;
}
