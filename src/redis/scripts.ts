// The Lua scripts every Redis limiter runs, one per command (src/redis/lua/*.lua, each with a
// header listing KEYS, ARGV and its reply). Each state change is one script: Redis runs it
// atomically on its single thread, so check-then-write needs no lock and no second round trip.
// The texts come from a module generated at build time (scripts/embed-lua.mjs): nothing is read
// from disk at run time.

import { createHash } from 'node:crypto';
import { EPSILON } from '../core/refill.js';
import type { LuaScript } from './client.js';
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
const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex');

const script = (name: string, lua: string, readOnly = false): LuaScript =>
  Object.freeze({ name: `${name}_${sha1(lua).slice(0, 10)}`, lua, sha: sha1(lua), readOnly });

/** The scripts as the clients run them (src/redis/client.ts). */
export const TAKE = script('bucketflowTake', TAKE_LUA);
export const TAKE_ONE = script('bucketflowTakeOne', TAKE_ONE_LUA);
export const TAKE_MANY = script('bucketflowTakeMany', TAKE_MANY_LUA);
export const TAKE_CHAINS = script('bucketflowTakeChains', TAKE_CHAINS_LUA);
// Read-only: a Cluster client that reads from replicas may send it to one.
export const PEEK = script('bucketflowPeek', PEEK_LUA, true);
export const CREATE = script('bucketflowCreate', CREATE_LUA);
export const REFUND = script('bucketflowRefund', REFUND_LUA);
export const SEMAPHORE_ACQUIRE = script('bucketflowSemAcquire', SEMAPHORE_ACQUIRE_LUA);
export const SEMAPHORE_RELEASE = script('bucketflowSemRelease', SEMAPHORE_RELEASE_LUA);
export const SEMAPHORE_EXTEND = script('bucketflowSemExtend', SEMAPHORE_EXTEND_LUA);
export const SEMAPHORE_COUNT = script('bucketflowSemCount', SEMAPHORE_COUNT_LUA, true);

/** Every script, for clients that define them all up front (ioredis' `defineCommand`). */
export const ALL: readonly LuaScript[] = [
  TAKE, TAKE_ONE, TAKE_MANY, TAKE_CHAINS, PEEK, CREATE, REFUND,
  SEMAPHORE_ACQUIRE, SEMAPHORE_RELEASE, SEMAPHORE_EXTEND, SEMAPHORE_COUNT,
];
