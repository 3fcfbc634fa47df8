// The Lua scripts every Redis limiter runs, one per command (src/redis/lua/*.lua, each with a
// header listing KEYS, ARGV and its reply). Each state change is one script: Redis runs it
// atomically on its single thread, so check-then-write needs no lock and no second round trip.
// The texts come from a module generated at build time (scripts/embed-lua.mjs): nothing is read
// from disk at run time.

import { createHash } from 'node:crypto';
import { EPSILON } from '../core/refill.js';
import * as lua from './lua/scripts.generated.js';

// Redis runs one text per script and has no include: each command is the shared functions of
// bucket.lua followed by its own code, after the constants bucket.lua expects. Redis runs the
// whole text on every call, making every function in it anew, so a command gets only the
// definitions it uses (directly or through another one), in bucket.lua's order.
const assemble = (command: string): string => `local EPSILON = ${EPSILON}\n${used(lua.bucket, command)}\n${command}`;
/** A semaphore command: what it uses of semaphore.lua, then its own text. */
const assembleSemaphore = (command: string): string => `${used(lua.semaphore, command)}\n${command}`;

/**
 * The top-level definitions of `shared` (each `local NAME = ...` or `local function NAME`, with
 * the comment lines just above it) that `code` needs, in their order in `shared`.
 */
function used(shared: string, code: string): string {
  const units: { name: string; text: string }[] = [];
  let comment: string[] = [];
  const lines = shared.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const head = /^local (?:function )?([A-Za-z_]\w*)/.exec(line);
    if (head === null) {
      comment = line.startsWith('--') ? [...comment, line] : [];
      continue;
    }
    const body = [line];
    // A function spans up to its own `end` at the start of a line, unless it ends on its first line.
    if (line.startsWith('local function') && !/\bend$/.test(line)) {
      while (i + 1 < lines.length && lines[i] !== 'end') body.push(lines[++i]!);
    }
    units.push({ name: head[1]!, text: [...comment, ...body].join('\n') });
    comment = [];
  }
  const needed = new Set<string>();
  const mentions = (text: string, name: string): boolean => new RegExp(`\\b${name}\\b`).test(text);
  // Needs are found from the command down: a unit mentioned by the code or by a needed unit.
  for (let grew = true; grew;) {
    grew = false;
    for (const u of units) {
      if (needed.has(u.name)) continue;
      if (mentions(code, u.name) || units.some((v) => needed.has(v.name) && v !== u && mentions(v.text, u.name))) {
        needed.add(u.name);
        grew = true;
      }
    }
  }
  return units.filter((u) => needed.has(u.name)).map((u) => u.text).join('\n\n');
}

/** Take or reserve on a chain of keys with any number of limits (lua/take.lua). */
export const TAKE_LUA = assemble(lua.take);
/** {@link TAKE_LUA} for one key with one limit: same arguments and state, a shorter reply when taken (lua/take-one.lua). */
export const TAKE_ONE_LUA = assemble(lua.takeOne);
/** Several non-waiting takes on keys with one limit (the same for all), decided in order (lua/take-many.lua). */
export const TAKE_MANY_LUA = assemble(lua.takeMany);
/** Several non-waiting takes on chains of keys with any limits, decided in order (lua/take-chains.lua). */
export const TAKE_CHAINS_LUA = assemble(lua.takeChains);
/** Read-only: the wait for n tokens and the lowest level (lua/peek.lua). */
export const PEEK_LUA = assemble(lua.peek);
/** Starts missing keys at their initial levels (lua/create.lua). */
export const CREATE_LUA = assemble(lua.create);
/** Gives a reservation back (lua/refund.lua). */
export const REFUND_LUA = assemble(lua.refund);
/** Semaphore: leases now, or a place in the queue (lua/semaphore-acquire.lua). */
export const SEMAPHORE_ACQUIRE_LUA = assembleSemaphore(lua.semaphoreAcquire);
/** Semaphore: leases given back, waiters that gave up; wakes those whose turn came (lua/semaphore-release.lua). */
export const SEMAPHORE_RELEASE_LUA = assembleSemaphore(lua.semaphoreRelease);
/** Semaphore: renews leases (lua/semaphore-extend.lua). */
export const SEMAPHORE_EXTEND_LUA = assembleSemaphore(lua.semaphoreExtend);
/** Semaphore, read-only: leases held and waiters queued (lua/semaphore-count.lua). */
export const SEMAPHORE_COUNT_LUA = assembleSemaphore(lua.semaphoreCount);

// Named after the script's own hash: two versions of this library on one client (or one
// server) never call each other's script under the same name.
const tag = (text: string): string => createHash('sha1').update(text).digest('hex').slice(0, 10);

/** ioredis command names of the scripts, as defined on a client by {@link defineScripts}. */
export const TAKE_COMMAND = `bucketflowTake_${tag(TAKE_LUA)}`;
export const TAKE_ONE_COMMAND = `bucketflowTakeOne_${tag(TAKE_ONE_LUA)}`;
export const TAKE_MANY_COMMAND = `bucketflowTakeMany_${tag(TAKE_MANY_LUA)}`;
export const TAKE_CHAINS_COMMAND = `bucketflowTakeChains_${tag(TAKE_CHAINS_LUA)}`;
export const PEEK_COMMAND = `bucketflowPeek_${tag(PEEK_LUA)}`;
export const CREATE_COMMAND = `bucketflowCreate_${tag(CREATE_LUA)}`;
export const REFUND_COMMAND = `bucketflowRefund_${tag(REFUND_LUA)}`;
export const SEMAPHORE_ACQUIRE_COMMAND = `bucketflowSemAcquire_${tag(SEMAPHORE_ACQUIRE_LUA)}`;
export const SEMAPHORE_RELEASE_COMMAND = `bucketflowSemRelease_${tag(SEMAPHORE_RELEASE_LUA)}`;
export const SEMAPHORE_EXTEND_COMMAND = `bucketflowSemExtend_${tag(SEMAPHORE_EXTEND_LUA)}`;
export const SEMAPHORE_COUNT_COMMAND = `bucketflowSemCount_${tag(SEMAPHORE_COUNT_LUA)}`;

/** The part of an ioredis `Redis` or `Cluster` client the buckets use. */
export interface ScriptClient {
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number; readOnly?: boolean }): void;
  /** The server's clock (`TIME`), read now and then to tell a take when its caller gives up. */
  time?(): Promise<unknown>;
}

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

const defined = new WeakSet<object>();

/**
 * Defines the scripts on `client` once. ioredis then sends EVALSHA, and EVAL when the server
 * answers NOSCRIPT (after SCRIPT FLUSH or a restart), so the script cache is never our concern.
 */
export function defineScripts(client: ScriptClient): void {
  if (defined.has(client)) return;
  // No numberOfKeys: a hierarchy's chain length varies, so every call passes its key count first.
  client.defineCommand(TAKE_COMMAND, { lua: TAKE_LUA });
  client.defineCommand(TAKE_ONE_COMMAND, { lua: TAKE_ONE_LUA });
  client.defineCommand(TAKE_MANY_COMMAND, { lua: TAKE_MANY_LUA });
  client.defineCommand(TAKE_CHAINS_COMMAND, { lua: TAKE_CHAINS_LUA });
  // Read-only: a Cluster client with `scaleReads` may send it to a replica.
  client.defineCommand(PEEK_COMMAND, { lua: PEEK_LUA, readOnly: true });
  client.defineCommand(CREATE_COMMAND, { lua: CREATE_LUA });
  client.defineCommand(REFUND_COMMAND, { lua: REFUND_LUA });
  client.defineCommand(SEMAPHORE_ACQUIRE_COMMAND, { lua: SEMAPHORE_ACQUIRE_LUA });
  client.defineCommand(SEMAPHORE_RELEASE_COMMAND, { lua: SEMAPHORE_RELEASE_LUA });
  client.defineCommand(SEMAPHORE_EXTEND_COMMAND, { lua: SEMAPHORE_EXTEND_LUA });
  client.defineCommand(SEMAPHORE_COUNT_COMMAND, { lua: SEMAPHORE_COUNT_LUA, readOnly: true });
  defined.add(client);
}

/** Calls a script defined by {@link defineScripts}: `(numKeys, ...keys, ...args)`. */
export function callScript(client: ScriptClient, command: string, args: (string | number)[]): Promise<unknown> {
  return (client as unknown as Record<string, ScriptCall>)[command]!(...args);
}
