// node-redis (the `redis` package, v5 and v6): a client from `createClient` or a cluster from
// `createCluster`. Scripts are sent raw through `sendCommand`: node-redis's own script API
// (`defineScript`) only serves scripts given to `createClient` when the client is made, which a
// library handed a client cannot do. As ioredis does, a script's first call on a connection sends
// its text (EVAL, which loads it), later ones EVALSHA, and EVAL again when the server answers
// NOSCRIPT (a flushed cache, a restart). Sending EVALSHA first would let a call made after it
// overtake its retry, and this process's commands must reach a key in the order they were made.
// The raw path skips node-redis's key prefixing, so the client's `keyPrefix` (v6) is applied here,
// to the keys only.

import { hashSlot } from '../slots.js';

import type { LuaScript, RedisClient, Subscriber, SubscriberEvents } from '../client.js';

/** A node-redis client connection (its subscriber, or the client itself). */
interface Connection {
  on(event: string, listener: (...args: never[]) => void): unknown;
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  destroy(): unknown;
}

/** `createClient()`'s client: `sendCommand(args)`. */
interface NodeRedisClientLike {
  sendCommand(args: string[]): Promise<unknown>;
  duplicate(): unknown;
  readonly options?: { keyPrefix?: unknown };
}

/** `createCluster()`'s cluster: `sendCommand(firstKey, isReadonly, args)` routes by the key's slot. */
interface NodeRedisClusterLike {
  sendCommand(firstKey: string | undefined, isReadonly: boolean, args: string[]): Promise<unknown>;
  duplicate(): unknown;
  /** Where v6 keeps a cluster's `keyPrefix` option. */
  readonly _keyPrefix?: unknown;
  /** Per hash slot, the shard serving it: its master is the connection a key's script goes to. */
  readonly slots?: readonly ({ master?: object } | undefined)[];
}

type Fn = (...args: never[]) => unknown;
const has = (value: object, name: string): boolean => typeof (value as Record<string, unknown>)[name] === 'function';

/** Whether `value` looks like a node-redis client (`createClient`; a pool or a Sentinel is not). */
export function isNodeRedisClient(value: object): boolean {
  return has(value, 'sendCommand') && has(value, 'duplicate') && has(value, 'createPool');
}

/** Whether `value` looks like a node-redis cluster (`createCluster`). */
export function isNodeRedisCluster(value: object): boolean {
  return has(value, 'sendCommand') && has(value, 'duplicate') && has(value, 'getSlotRandomNode');
}

export class NodeRedisClient implements RedisClient {
  readonly cluster: boolean;
  readonly keyPrefix: string;
  /** Sends one command; `firstKey` routes it on a cluster. */
  readonly #send: (firstKey: string | undefined, readOnly: boolean, args: string[]) => Promise<unknown>;
  readonly #redis: { duplicate(): unknown };
  /** The connection a call on `firstKey` goes to: what holds the scripts it ran. */
  readonly #connectionOf: (firstKey: string | undefined) => object | undefined;
  /** Scripts each connection has run (so the server holds them), by connection. */
  readonly #loaded = new WeakMap<object, Set<LuaScript>>();

  constructor(redis: object, cluster: boolean) {
    this.cluster = cluster;
    this.#redis = redis as { duplicate(): unknown };
    let prefix: unknown;
    if (cluster) {
      const c = redis as NodeRedisClusterLike;
      prefix = c._keyPrefix;
      this.#send = (firstKey, readOnly, args) => c.sendCommand(firstKey, readOnly, args);
      this.#connectionOf = (firstKey) => (firstKey === undefined ? undefined : c.slots?.[hashSlot(firstKey)]?.master);
    } else {
      const c = redis as NodeRedisClientLike;
      prefix = c.options?.keyPrefix;
      this.#send = (_firstKey, _readOnly, args) => c.sendCommand(args);
      this.#connectionOf = () => c;
    }
    this.keyPrefix = prefix === undefined || prefix === null ? '' : String(prefix);
  }

  run(script: LuaScript, args: readonly (string | number)[]): Promise<unknown> {
    const count = Number(args[0]);
    const prefix = this.keyPrefix;
    const wire = new Array<string>(args.length + 2);
    wire[2] = String(count);
    for (let i = 1; i < args.length; i++) wire[i + 2] = i <= count && prefix !== '' ? prefix + String(args[i]) : String(args[i]);
    const firstKey = count > 0 ? wire[3] : undefined;
    const connection = this.#connectionOf(firstKey);
    let loaded = connection === undefined ? undefined : this.#loaded.get(connection);
    if (connection !== undefined && loaded === undefined) this.#loaded.set(connection, (loaded = new Set()));
    if (loaded !== undefined && !loaded.has(script)) {
      loaded.add(script);
      wire[0] = 'EVAL';
      wire[1] = script.lua;
      return this.#send(firstKey, script.readOnly, wire);
    }
    wire[0] = 'EVALSHA';
    wire[1] = script.sha;
    return this.#send(firstKey, script.readOnly, wire).then(undefined, (error: unknown) => {
      if (!String((error as { message?: unknown } | null)?.message).startsWith('NOSCRIPT')) throw error;
      // The server lost the script: send its text, which also loads it for the next EVALSHA.
      const text = wire.slice();
      text[0] = 'EVAL';
      text[1] = script.lua;
      return this.#send(firstKey, script.readOnly, text);
    });
  }

  time(): Promise<unknown> {
    return this.#send(undefined, true, ['TIME']);
  }

  del(key: string): Promise<unknown> {
    const k = this.keyPrefix + key;
    return this.#send(k, false, ['DEL', k]);
  }

  subscriber(events: SubscriberEvents): Subscriber {
    // A client in subscriber mode runs no other command: a connection of its own, made by us.
    const connection = this.#redis.duplicate() as Connection;
    // Errors show in the waiters' own calls; an unheard 'error' event would crash the process.
    connection.on('error', () => {});
    let first = true;
    // A client says 'ready' on each connection (node-redis subscribes again by itself); a cluster's
    // subscriber node does not tell, and the waiters' timed asks cover what it misses.
    connection.on('ready', () => {
      if (first) first = false;
      else events.reconnected();
    });
    const connected = connection.connect();
    connected.catch(() => {}); // seen by each subscribe below
    const listener = (message: string, channel: string): void => events.message(channel, message);
    return {
      subscribe: (channel) => connected.then(() => connection.subscribe(channel, listener)),
      unsubscribe: (channel) => connected.then(() => connection.unsubscribe(channel)),
      close: () => {
        try {
          const closed = connection.destroy() as Promise<unknown> | undefined;
          if (closed instanceof Promise) closed.catch(() => {});
        } catch {
          // Already closed, or never connected: nothing to drop.
        }
      },
    };
  }

  isErrorReply(error: unknown): boolean {
    // node-redis's error replies are ErrorReply (SimpleError, BlobError...), whatever their name says.
    for (let p: unknown = error === null || typeof error !== 'object' ? null : Object.getPrototypeOf(error); p !== null && p !== Error.prototype; p = Object.getPrototypeOf(p)) {
      if ((p as { constructor?: Fn }).constructor?.name === 'ErrorReply') return true;
    }
    return false;
  }
}
