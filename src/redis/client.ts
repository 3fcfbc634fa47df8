// The one surface the Redis kinds talk to, whatever client library the user passed: run a Lua
// script by its hash, read the server's clock, delete a key, open a subscriber for wake-ups. Each
// library has an adapter (src/redis/clients/*.ts), chosen from the client object itself; none of
// them imports its library, so `bucketflow/redis` loads no client package.

import * as check from '../validate.js';
import { IoRedisClient, isIoRedisLike } from './clients/ioredis.js';
import { NodeRedisClient, isNodeRedisClient, isNodeRedisCluster } from './clients/node-redis.js';

/** One Lua script as the clients run it: its text, its SHA1 (EVALSHA) and its ioredis command name. */
export interface LuaScript {
  /** Command name for ioredis-style clients' `defineCommand`: versioned by the script's own hash. */
  readonly name: string;
  readonly lua: string;
  /** SHA1 of `lua`, hex: what EVALSHA names. */
  readonly sha: string;
  /** Writes nothing: a Cluster client may send it to a replica. */
  readonly readOnly: boolean;
}

/** A connection in subscriber mode, made from a client for semaphore wake-ups. */
export interface Subscriber {
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  /** Drops the connection; never throws. */
  close(): void;
}

/** What a {@link Subscriber} reports. */
export interface SubscriberEvents {
  message(channel: string, message: string): void;
  /** The connection came back after a loss (the library subscribed again): messages may have been missed. */
  reconnected(): void;
}

/** One client library behind the Lua engine: every Redis kind talks to Redis through this. */
export interface RedisClient {
  /** A Cluster client: one script may only touch keys of one hash slot. */
  readonly cluster: boolean;
  /** The client's own key prefix ('' if none): it starts every key, and so the channels named after keys. */
  readonly keyPrefix: string;
  /**
   * Runs `script` with `args` = key count, keys, then its arguments: EVALSHA, and EVAL when the
   * server answers NOSCRIPT (a flushed script cache, a restarted server, a new Cluster node).
   * May throw; the caller treats that as a failed call.
   */
  run(script: LuaScript, args: readonly (string | number)[]): Promise<unknown>;
  /** The server's `TIME` reply: seconds and microseconds. */
  time(): Promise<unknown>;
  /** Deletes `key` (the client's prefix applies); resolves the number deleted. */
  del(key: string): Promise<unknown>;
  /** A new connection like the client, in subscriber mode. */
  subscriber(events: SubscriberEvents): Subscriber;
  /** Whether `error` is an error reply from a server that is there (not a lost or absent connection). */
  isErrorReply(error: unknown): boolean;
}

/**
 * An ioredis or iovalkey `Redis` or `Cluster`: what the Redis kinds need of it (its Lua command
 * definitions, and a duplicate connection for wake-ups).
 */
export interface IoRedisLikeClient {
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number; readOnly?: boolean }): unknown;
  duplicate(): unknown;
}

/** A node-redis (`redis` package, v5 or v6) client from `createClient` or cluster from `createCluster`, connected by the caller. */
export interface NodeRedisLikeClient {
  sendCommand(...args: never[]): Promise<unknown>;
  duplicate(...args: never[]): unknown;
  readonly isOpen: boolean;
}

/** The clients a Redis limiter takes as `redis`. */
export type SupportedRedisClient = IoRedisLikeClient | NodeRedisLikeClient;

const SUPPORTED = 'an ioredis or iovalkey Redis or Cluster, or a node-redis client (createClient) or cluster (createCluster)';

const adapters = new WeakMap<object, RedisClient>();

/**
 * The adapter for the `redis` option's client, one per client object (every limiter on a client
 * shares its script definitions, clock estimate and subscriber). A TypeError names what is
 * supported when `value` is none of them.
 */
export function clientOf(value: unknown): RedisClient {
  if (typeof value === 'object' && value !== null) {
    const known = adapters.get(value);
    if (known !== undefined) return known;
    let adapter: RedisClient | undefined;
    if (isIoRedisLike(value)) adapter = new IoRedisClient(value);
    else if (isNodeRedisCluster(value)) adapter = new NodeRedisClient(value, true);
    else if (isNodeRedisClient(value)) adapter = new NodeRedisClient(value, false);
    if (adapter !== undefined) {
      adapters.set(value, adapter);
      return adapter;
    }
  }
  throw new TypeError(`redis must be a Redis client: ${SUPPORTED}; got ${describe(value)}`);
}

/** What a wrong `redis` value is, with its class when it has one (a node-redis pool, a Sentinel...). */
function describe(value: unknown): string {
  // node-redis makes its classes through factories: the named class is up the prototype chain.
  for (let p = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) as object | null : null; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    const name = (p as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string' && name !== '' && name !== 'Class') return `${check.show(value)} of class ${name}`;
  }
  return check.show(value);
}
