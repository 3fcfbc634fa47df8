// One script call with a deadline of our own: ioredis may queue a command while it reconnects and
// retry it many times, so its own settings cannot promise a prompt answer. Ours can.

import { callScript, type ScriptClient } from './scripts.js';

/**
 * A Redis bucket could not reach a decision: Redis answered with an error, could not be reached,
 * or did not answer within the bucket's `timeout`. The Redis (ioredis) error, if any, is `cause`.
 */
export class RedisBucketError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RedisBucketError';
  }
}

/**
 * Runs a script, settling within `timeoutMs`: with its reply, or with a {@link RedisBucketError}
 * saying `what` failed. A reply that comes after the deadline is dropped (never an unhandled rejection).
 */
export function timedScript(
  client: ScriptClient,
  command: string,
  args: (string | number)[],
  timeoutMs: number,
  what: string,
): Promise<unknown> {
  return timedCall(() => callScript(client, command, args), timeoutMs, what);
}

/** Runs any Redis call `start` with the deadline and errors of {@link timedScript}. */
export function timedCall(start: () => Promise<unknown>, timeoutMs: number, what: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new RedisBucketError(`${what}: no answer from Redis within ${timeoutMs} ms (timeout)`));
    }, timeoutMs);
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const message = error instanceof Error ? error.message : String(error);
      reject(new RedisBucketError(`${what}: Redis call failed: ${message}`, { cause: error }));
    };
    let reply: Promise<unknown>;
    try {
      reply = start();
    } catch (error) {
      fail(error);
      return;
    }
    reply.then((value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(value);
    }, fail);
  });
}
