// A bucket state as the scripts store it (src/redis/lua/bucket.lua): the byte 1, then
// little-endian doubles: the server time (ms) of the last write, then one level per limit.
import type { Redis } from 'ioredis';

export interface StoredState {
  /** Server time (ms) of the last write. */
  last: number;
  /** One level per limit. */
  levels: number[];
}

/** Decodes a stored state; `undefined` for a value that is not one. */
export function decodeState(raw: Buffer): StoredState | undefined {
  if (raw.length < 17 || (raw.length - 1) % 8 !== 0 || raw[0] !== 1) return undefined;
  const values: number[] = [];
  for (let at = 1; at < raw.length; at += 8) values.push(raw.readDoubleLE(at));
  return { last: values[0]!, levels: values.slice(1) };
}

/** Encodes a state as the scripts would store it (values need not be finite: tests store broken ones). */
export function encodeState(last: number, ...levels: number[]): Buffer {
  const raw = Buffer.alloc(1 + 8 * (1 + levels.length));
  raw[0] = 1;
  [last, ...levels].forEach((v, i) => raw.writeDoubleLE(v, 1 + 8 * i));
  return raw;
}

/** The levels stored at `key` ([] if Redis holds no key); throws if it holds something else. */
export async function storedLevels(redis: Redis, key: string): Promise<number[]> {
  const raw = await redis.getBuffer(key);
  if (raw === null) return [];
  const state = decodeState(raw);
  if (state === undefined) throw new Error(`${key} holds no bucket state: ${raw.toString('hex')}`);
  return state.levels;
}

/** The server's clock in ms (TIME), as the scripts read it. */
export async function serverMs(redis: Redis): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Number(us) / 1000;
}
