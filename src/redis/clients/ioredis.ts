// ioredis (v5, v6) and its fork iovalkey, `Redis` and `Cluster` alike. Scripts go through the
// client's own `defineCommand`: it sends EVALSHA, falls back to EVAL on NOSCRIPT, routes a Cluster
// call by its first key, and applies the client's keyPrefix, all without an extra promise or
// array of ours per call (the Redis rows of the bench are measured on this path).

import type { LuaScript, RedisClient, Subscriber, SubscriberEvents } from '../client.js';
import * as scripts from '../scripts.js';

/** The part of an ioredis-style client this adapter uses. */
interface IoRedisLike {
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number; readOnly?: boolean }): unknown;
  duplicate(): unknown;
  time?(): Promise<unknown>;
  del?(key: string): Promise<unknown>;
  readonly isCluster?: unknown;
  readonly options?: { keyPrefix?: unknown };
}

/** The part of an ioredis-style connection in subscriber mode this adapter uses. */
interface IoRedisSubscriber {
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'ready' | 'error', listener: (...args: unknown[]) => void): unknown;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  disconnect(): void;
}

/** Whether `value` looks like an ioredis or iovalkey `Redis` or `Cluster`. */
export function isIoRedisLike(value: object): value is IoRedisLike {
  const v = value as Partial<IoRedisLike>;
  return typeof v.defineCommand === 'function' && typeof v.duplicate === 'function';
}

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

export class IoRedisClient implements RedisClient {
  readonly cluster: boolean;
  readonly keyPrefix: string;
  readonly #redis: IoRedisLike;
  /** The defined commands, by name: looked up once here, not per call. */
  readonly #calls: Record<string, ScriptCall>;

  constructor(redis: IoRedisLike) {
    this.#redis = redis;
    this.cluster = redis.isCluster === true;
    const prefix = redis.options?.keyPrefix;
    this.keyPrefix = typeof prefix === 'string' ? prefix : '';
    // No numberOfKeys: a hierarchy's chain length varies, so every call passes its key count first.
    for (const s of scripts.ALL) redis.defineCommand(s.name, { lua: s.lua, readOnly: s.readOnly });
    this.#calls = redis as unknown as Record<string, ScriptCall>;
  }

  run(script: LuaScript, args: readonly (string | number)[]): Promise<unknown> {
    return this.#calls[script.name]!(...args);
  }

  time(): Promise<unknown> {
    return this.#redis.time!();
  }

  del(key: string): Promise<unknown> {
    return this.#redis.del!(key);
  }

  subscriber(events: SubscriberEvents): Subscriber {
    const connection = this.#redis.duplicate() as IoRedisSubscriber;
    // Errors show in the waiters' own calls; an unheard 'error' event would crash the process.
    connection.on('error', () => {});
    connection.on('message', events.message);
    let first = true;
    connection.on('ready', () => {
      if (first) first = false;
      else events.reconnected(); // ioredis subscribes again by itself
    });
    return {
      subscribe: (channel) => connection.subscribe(channel),
      unsubscribe: (channel) => connection.unsubscribe(channel),
      close: () => connection.disconnect(),
    };
  }

  isErrorReply(error: unknown): boolean {
    return (error as { name?: unknown } | null)?.name === 'ReplyError';
  }
}
