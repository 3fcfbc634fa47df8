// What one request is about: the keys it touches and the limits on each, in the form the
// scripts take them (src/redis/lua/bucket.lua), plus what the client checks before sending.

/** The keys one request touches and the limits on each, as the scripts take them. */
export interface RedisTarget {
  /** Keys of one chain (leaf first); all in one hash slot. */
  readonly keys: readonly string[];
  /** Per key: number of limits, then capacity, tokens per ms, initial tokens for each. */
  readonly limitArgs: readonly string[];
  /** Largest request that can ever be served (smallest capacity on the chain). */
  readonly capacity: number;
  /** Every limit of the chain as configured, in the order of `limitArgs` (leaf first): what a decision reports. */
  readonly limits: readonly Readonly<{ capacity: number; fillRate: number }>[];
  /** Names the bucket in errors, e.g. `RedisTokenBucket "api:user:1"` (read only for an error). */
  readonly what: string;
}

/** Formats a limit list as the scripts' per-key arguments. */
export function limitArgs(limits: readonly { capacity: number; fillRate: number; initialTokens: number }[]): string[] {
  const out = [String(limits.length)];
  for (const l of limits) out.push(String(l.capacity), String(l.fillRate / 1000), String(l.initialTokens));
  return out;
}

/** A target the lean one-key scripts serve: one key with one limit. */
export const isOneKeyOneLimit = (t: RedisTarget): boolean => t.keys.length === 1 && t.limitArgs[0] === '1';
