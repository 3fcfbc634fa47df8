// The Lua scripts as files and as the server runs them: one file per command with its header; a
// read-only peek (it runs on a replica); keys created only by the explicit create script; the
// encodings of "no limit" and of very long expiries; the float slack the local buckets use.

import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { TokenBucket } from 'bucketflow';
import { RedisBucketError, RedisTokenBucket } from 'bucketflow/redis';
import * as embedded from '../../src/redis/lua/scripts.generated.js';
import { describeRedis, redisPidDir, sharedClient, sleep, uniqueKey } from './helpers/env.js';
import { RedisServer } from './helpers/servers.js';

const luaDir = new URL('../../src/redis/lua/', import.meta.url);
const luaFiles = readdirSync(luaDir).filter((f) => f.endsWith('.lua'));

describe('the Lua files', () => {
  it('each command file starts with a header naming its KEYS, its ARGV and its reply', () => {
    const commands = luaFiles.filter((f) => f !== 'bucket.lua' && f !== 'semaphore.lua'); // the shared ones
    expect(commands.length).toBeGreaterThanOrEqual(6);
    for (const file of commands) {
      const text = readFileSync(new URL(file, luaDir), 'utf8');
      const header = text.slice(0, text.search(/^[^-]/m));
      expect(header, file).toMatch(/^-- bucketflow /);
      expect(header, file).toMatch(/^-- KEYS/m);
      expect(header, file).toMatch(/^-- ARGV/m);
      expect(header, file).toMatch(/^-- Reply: /m);
    }
  });

  it('reach the code as text through the generated module, one export per file', () => {
    const byName: Record<string, string> = { ...embedded };
    for (const file of luaFiles) {
      const name = file.slice(0, -4).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      expect(byName[name], file).toBe(readFileSync(new URL(file, luaDir), 'utf8'));
    }
    expect(Object.keys(byName).length).toBe(luaFiles.length);
  });
});

describeRedis('what the scripts write, and what they only read', 'shared', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = sharedClient();
  });
  afterAll(() => redis.disconnect());

  it('timeUntil() and tokens() write nothing, not even the key of a bucket that starts below capacity', async () => {
    const key = uniqueKey('peek');
    const bucket = new RedisTokenBucket({ redis, key, capacity: 10, fillRate: 1, initialTokens: 4 });
    const level = await bucket.tokens();
    expect(level).toBeGreaterThanOrEqual(4);
    expect(level).toBeLessThan(5);
    expect(await redis.exists(key)).toBe(1); // created when it was made, by the create script
    await redis.del(key);
    expect(await bucket.tokens()).toBe(4);
    expect(await bucket.timeUntil(6)).toBe(2000);
    expect(await redis.exists(key)).toBe(0);
  });

  it('a bucket made on a key that exists leaves its state alone', async () => {
    const key = uniqueKey('create');
    const first = new RedisTokenBucket({ redis, key, capacity: 10, fillRate: 0.001, initialTokens: 3 });
    expect(await first.consume(3)).toBe(true);
    const second = new RedisTokenBucket({ redis, key, capacity: 10, fillRate: 0.001, initialTokens: 3 });
    expect(await second.tokens()).toBeCloseTo(0, 2);
    expect(await second.consume(1)).toBe(false);
  });

  it('an acquire with no maxWait (or maxWait Infinity) reserves however long the wait, and an abort gives it back', async () => {
    for (const options of [{}, { maxWait: Infinity }, { maxWait: 1e300 }]) {
      const bucket = new RedisTokenBucket({ redis, key: uniqueKey('inf'), capacity: 1, fillRate: 1e-9 });
      expect(await bucket.consume(1)).toBe(true);
      const controller = new AbortController();
      const waiting = bucket.acquire(1, { ...options, signal: controller.signal });
      let level = await bucket.tokens();
      for (let i = 0; i < 100 && level > -0.5; i++) level = await bucket.tokens();
      expect(level).toBeCloseTo(-1, 6); // reserved: the wait of 1e12 ms is within "no limit"
      controller.abort(new Error('enough'));
      await expect(waiting).rejects.toThrow('enough');
      for (let i = 0; i < 100 && level < -0.5; i++) level = await bucket.tokens();
      expect(level).toBeCloseTo(0, 6);
    }
  });

  it('a bucket that would take longer than 2^46 ms to fill gets a key expiring in 2^46 ms (not an error)', async () => {
    const key = uniqueKey('max-px');
    const bucket = new RedisTokenBucket({ redis, key, capacity: 10, fillRate: 1e-300 });
    expect(await bucket.consume(1)).toBe(true);
    const pttl = await redis.pttl(key);
    expect(pttl).toBeLessThanOrEqual(2 ** 46);
    expect(pttl).toBeGreaterThan(2 ** 46 - 60_000);
  });

  it('counts 0.1 + 0.2 tokens as 0.3, as the local buckets do (the same float slack)', async () => {
    const redisBucket = new RedisTokenBucket({ redis, key: uniqueKey('epsilon'), capacity: 0.3, fillRate: 0 });
    const local = new TokenBucket({ capacity: 0.3, fillRate: 0 });
    const redisAnswers = [await redisBucket.consume(0.1), await redisBucket.consume(0.2), await redisBucket.consume(1e-6)];
    expect(redisAnswers).toEqual([local.consume(0.1), local.consume(0.2), local.consume(1e-6)]);
    expect(redisAnswers).toEqual([true, true, false]);
  });
});

/** How long the replica may take to sync and to acknowledge a write (ms): far beyond any normal run. */
const REPLICA_DEADLINE = 30_000;

describeRedis('the read-only script on a replica', 'binary', () => {
  let primary: RedisServer | undefined;
  let replica: RedisServer | undefined;
  let toPrimary: Redis | undefined;
  let toReplica: Redis | undefined;
  // The servers' working directory, one of the test's own (Redis writes there whatever it saves).
  const dir = mkdtempSync(join(tmpdir(), 'bucketflow-replica-'));

  // Every step below waits for what it needs (a connection, the initial sync) rather than for a
  // while: how long that takes is up to a busy machine, so the deadline is generous and only
  // there to turn a hang into an error that shows the replica's own account of its link.
  beforeAll(async () => {
    // No delay before the first sync (Redis waits 5 s by default, for more replicas to join).
    primary = await RedisServer.start({ pidDir: redisPidDir, args: ['--repl-diskless-sync-delay', '0', '--dir', dir] });
    // The replica loads the copy from the socket: no temporary file to write and fsync on a busy disk.
    replica = await RedisServer.start({
      pidDir: redisPidDir,
      args: ['--replicaof', '127.0.0.1', String(primary.port), '--repl-diskless-load', 'on-empty-db', '--dir', dir],
    });
    toPrimary = new Redis(primary.url);
    toReplica = new Redis(replica.url);
    toReplica.on('error', () => {});
    await Promise.all([toPrimary.ping(), toReplica.ping()]);
    // Synced: the replica has loaded the primary's copy. (A write reaches it only once the primary
    // streams to it, which it starts on the replica's first ACK, up to a second later: the test
    // waits for that with WAIT.)
    let info = '';
    const deadline = performance.now() + REPLICA_DEADLINE;
    while (!(info = await toReplica.info('replication')).includes('master_link_status:up')) {
      if (performance.now() > deadline) throw new Error(`the replica's link to the primary is not up after ${REPLICA_DEADLINE} ms:\n${info}`);
      await sleep(20);
    }
  }, 2 * REPLICA_DEADLINE);
  afterAll(async () => {
    toPrimary?.disconnect();
    toReplica?.disconnect();
    await replica?.stop();
    await primary?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('timeUntil() and tokens() answer from a replica, where a take is refused', async () => {
    // A generous call timeout: what is tested is where each script may run, not how fast Redis answers.
    const limits = { key: 'replicated', capacity: 10, fillRate: 0.001, timeout: REPLICA_DEADLINE };
    const writer = new RedisTokenBucket({ redis: toPrimary!, ...limits });
    const wrote = performance.now();
    expect(await writer.consume(4)).toBe(true);
    // The replica has the write once it acknowledges the primary's replication offset past it:
    // WAIT returns 1 then, or 0 if no replica did by the deadline.
    expect(await toPrimary!.wait(1, REPLICA_DEADLINE)).toBe(1);
    expect(await toReplica!.exists(limits.key)).toBe(1);
    const reader = new RedisTokenBucket({ redis: toReplica!, ...limits });
    const level = await reader.tokens();
    const wait = await reader.timeUntil(7);
    const elapsed = performance.now() - wrote; // server time from the take to the reads is within this
    // 6 left, plus what 0.001 token/s refilled since the take, however long the replica took to get it.
    expect(level).toBeGreaterThanOrEqual(6);
    expect(level).toBeLessThanOrEqual(6 + (limits.fillRate * elapsed) / 1000 + 1e-9);
    // The 7th token is 1,000 s away from the take: less the time that has passed since.
    expect(wait).toBeLessThanOrEqual(1_000_000 + 1e-6);
    expect(wait).toBeGreaterThanOrEqual(1_000_000 - elapsed - 1);
    const refused = await reader.consume(1).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RedisBucketError);
    expect((refused as Error).message).toMatch(/READONLY/);
  }, 2 * REPLICA_DEADLINE);
});

