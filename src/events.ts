// What a limiter tells those who watch it, on node:diagnostics_channel: nothing is built or sent
// while a channel has no subscriber (each publisher asks `hasSubscribers` first). Channels are
// global by name, so the ESM and CommonJS builds publish on the same ones.
//
// The module is fetched through `process.getBuiltinModule` (Node 20.16+, Deno 2, Bun, workerd with
// nodejs_compat) rather than imported: an import of a Node built-in fails to load, or to bundle, in
// a browser or a worker without it, and there the limiters must work all the same, publishing nothing.

import { RateLimitExceeded } from './errors.js';

/** A limiter decided a request: taken or refused (a waiting request, once served or refused). */
export interface DecisionEvent {
  /** The limiter object (for a keyed one, the keyed limiter; `key` says which key). */
  readonly bucket: object;
  readonly key?: string;
  /** Tokens asked for (1 for a semaphore's lease). */
  readonly n: number;
  readonly allowed: boolean;
  /** How long the request waited (ms), for requests that could wait. */
  readonly waitedMs?: number;
}

/** A Redis call failed: an error, no connection, or no answer within the limiter's `timeout`. */
export interface RedisErrorEvent {
  /** The Redis limiter (for a hierarchy, its root bucket). */
  readonly bucket: object;
  /** A `RedisBucketError`; its `cause` is the client's error, if any. */
  readonly error: Error;
}

/** A request was answered by the failure policy instead of Redis. */
export interface FallbackEvent {
  readonly bucket: object;
  /** The `onRedisError` value that answered: `'throw'`, `'allow'`, `'deny'`, or the local fallback limiter. */
  readonly policy: unknown;
}

/** A Redis limiter's circuit breaker changed state. */
export interface CircuitEvent {
  readonly bucket: object;
  readonly state: 'open' | 'half-open' | 'closed';
}

/** The part of a diagnostics_channel `Channel` that publishers use. */
interface Channel {
  readonly hasSubscribers: boolean;
  publish(message: unknown): void;
}

type ChannelModule = { channel(name: string): Channel };

// Where no diagnostics_channel exists nobody can subscribe: every channel stays silent.
const nobodyListens: Channel = Object.freeze({ hasSubscribers: false, publish(): void {} });

const diagnostics = (() => {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  if (typeof proc?.getBuiltinModule !== 'function') return undefined;
  try {
    const dc = proc.getBuiltinModule('node:diagnostics_channel') as Partial<ChannelModule> | undefined;
    return typeof dc?.channel === 'function' ? (dc as ChannelModule) : undefined;
  } catch {
    return undefined; // a runtime that has the hook but refuses the module: no events, as above
  }
})();

const channel = (name: string): Channel => diagnostics?.channel(name) ?? nobodyListens;

export const decisionChannel = channel('bucketflow:decision');
export const redisErrorChannel = channel('bucketflow:redis-error');
export const fallbackChannel = channel('bucketflow:fallback');
export const circuitChannel = channel('bucketflow:circuit');

/** Publishes that `policy` answered a request of `bucket`, if anyone listens. */
export function publishFallback(bucket: object, policy: unknown): void {
  if (fallbackChannel.hasSubscribers) fallbackChannel.publish({ bucket, policy } satisfies FallbackEvent);
}

/** Publishes a decision made at once. Call only when `decisionChannel.hasSubscribers`. */
export function publishDecision(bucket: object, key: string | undefined, n: number, allowed: boolean): void {
  decisionChannel.publish((key === undefined ? { bucket, n, allowed } : { bucket, key, n, allowed }) satisfies DecisionEvent);
}

/**
 * Publishes a non-waiting request's decision when its promise resolves (`allowed` reads it from the
 * value). Call only when someone listens.
 */
export function watchDecision<T>(bucket: object, key: string | undefined, n: number, decided: Promise<T>, allowed: (value: T) => boolean): Promise<T> {
  return decided.then((value) => {
    publishDecision(bucket, key, n, allowed(value));
    return value;
  });
}

/** The clock waits of Redis limiters are measured on. */
export const realClock = globalThis.performance;

/** `allowed` of a boolean answer, and of a decision. */
export const isTrue = (taken: boolean): boolean => taken;
export const isAllowed = (d: { allowed: boolean }): boolean => d.allowed;

/**
 * Publishes a waiting request's decision when it settles: served, or refused
 * (`RateLimitExceeded`), with the ms it waited by `clock`. An abort or another error is no
 * decision. Call only when someone listens.
 */
export function watchWait<T>(bucket: object, key: string | undefined, n: number, clock: { now(): number }, waited: Promise<T>): Promise<T> {
  const started = clock.now();
  const publish = (allowed: boolean): void => {
    const waitedMs = clock.now() - started;
    decisionChannel.publish((key === undefined ? { bucket, n, allowed, waitedMs } : { bucket, key, n, allowed, waitedMs }) satisfies DecisionEvent);
  };
  return waited.then((value) => {
    publish(true);
    return value;
  }, (error: unknown) => {
    if (error instanceof RateLimitExceeded) publish(false);
    throw error;
  });
}
