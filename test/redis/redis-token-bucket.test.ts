import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { TokenBucket, rateLimit } from 'bucketflow';
import { RateLimitExceeded, RedisBucketError, RedisTokenBucket } from 'bucketflow/redis';
import { describeRedis, redisUrl, sharedClient, sleep, uniqueKey } from './helpers/env.js';
import { freePort } from './helpers/servers.js';
import { decodeState, serverMs, storedLevels } from './helpers/state.js';

describeRedis('RedisTokenBucket', 'shared', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = sharedClient();
  });
  afterAll(() => redis.disconnect());

  it('throws on bad options synchronously, before any command is sent', () => {
    const lazy = new Redis(redisUrl, { lazyConnect: true });
    const good = { redis: lazy, key: 'k', capacity: 5, fillRate: 1 };
    const bad: [Record<string, unknown>, RegExp, ErrorConstructor][] = [
      [{ ...good, key: undefined }, /key must be a non-empty string/, TypeError],
      [{ ...good, key: '' }, /key must be a non-empty string/, TypeError],
      [{ ...good, redis: undefined }, /redis must be a Redis client: an ioredis or iovalkey Redis or Cluster, or a node-redis client \(createClient\) or cluster \(createCluster\); got undefined/, TypeError],
      [{ ...good, redis: { get() {} } }, /redis must be a Redis client: .*; got an object$/, TypeError],
      [{ ...good, capacity: -1 }, /capacity must be a finite number > 0, got -1/, RangeError],
      [{ ...good, fillRate: Number.NaN }, /fillRate must be a finite number >= 0/, RangeError],
      [{ ...good, initialTokens: 6 }, /initialTokens must be <= capacity \(5\), got 6/, RangeError],
      [{ ...good, fill_rate: 1 }, /unknown option "fill_rate"/, TypeError],
      [{ ...good, timeout: 0 }, /timeout must be a finite number > 0, got 0/, RangeError],
      [{ ...good, onRedisError: 'ignore' }, /onRedisError must be 'throw', 'allow', 'deny' or a local bucket/, TypeError],
      [{ ...good, limits: [{ capacity: 1, fillRate: 1 }] }, /either limits or capacity/, TypeError],
    ];
    for (const [options, message, kind] of bad) {
      const attempt = () => new RedisTokenBucket(options as never);
      expect(attempt).toThrow(kind);
      expect(attempt).toThrow(message);
    }
    expect(lazy.status).toBe('wait'); // never connected: nothing was sent
    lazy.disconnect();
  });

  it('keeps a compact binary state and lets the key expire when the bucket would be full again', async () => {
    const key = uniqueKey('expiry');
    // 3 tokens at 1/s: full again, and the key due to expire, 3 s after the take.
    const b = new RedisTokenBucket({ redis, key, capacity: 5, fillRate: 1 });
    expect(await redis.exists(key)).toBe(0); // a full bucket needs no key
    const sent = performance.now();
    expect(await b.consume(3)).toBe(true);
    const state = decodeState((await redis.getBuffer(key))!);
    expect(state?.levels).toEqual([2]); // one level: 17 bytes
    expect(Math.abs(state!.last - (await serverMs(redis)))).toBeLessThan(1000);
    const pttl = await redis.pttl(key);
    expect(pttl).toBeLessThanOrEqual(3000);
    expect(pttl).toBeGreaterThanOrEqual(3000 - (performance.now() - sent) - 1); // the take ran after `sent`
    // At 100/s the same take is earned back in 30 ms: the key is gone then, and a missing key is a
    // full bucket.
    const quickKey = uniqueKey('expiry-quick');
    const quick = new RedisTokenBucket({ redis, key: quickKey, capacity: 5, fillRate: 100 });
    const quickSent = performance.now();
    expect(await quick.consume(3)).toBe(true);
    while (await redis.exists(quickKey)) {
      expect(performance.now() - quickSent, 'the key outlived its expiry').toBeLessThan(5000);
      await sleep(10);
    }
    expect(performance.now() - quickSent).toBeGreaterThanOrEqual(30); // not before its time
    expect(await quick.consume(5)).toBe(true);
  });

  it('starts again at initialTokens once its key expired', async () => {
    const key = uniqueKey('initial');
    const b = new RedisTokenBucket({ redis, key, capacity: 5, fillRate: 200, initialTokens: 1 });
    expect(await b.consume(1)).toBe(true);
    await sleep(80); // full after 25 ms: the key expires, the bucket starts over at 1
    expect(await redis.exists(key)).toBe(0);
    expect(await b.consume(2)).toBe(false);
    expect(await b.consume(1)).toBe(true);
  });

  it('never expires a fixed quota (fillRate 0)', async () => {
    const key = uniqueKey('quota');
    const b = new RedisTokenBucket({ redis, key, capacity: 3, fillRate: 0 });
    expect(await b.consume(1)).toBe(true);
    expect(await redis.pttl(key)).toBe(-1);
    const err = await b.acquire(3, { maxWait: 60_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitExceeded);
    expect((err as RateLimitExceeded).retryAfter).toBe(Infinity);
    expect(await b.timeUntil(3)).toBe(Infinity);
  });

  it('several limits are checked and charged together, all or nothing', async () => {
    const key = uniqueKey('limits');
    const b = new RedisTokenBucket({ redis, key, limits: [{ capacity: 10, fillRate: 0.001 }, { capacity: 3, fillRate: 0.001 }] });
    expect(b.capacity).toBe(3);
    expect(await b.consume(2)).toBe(true);
    expect(await b.consume(2)).toBe(false); // the second limit has 1 left: neither is charged
    const [a1, b1] = await storedLevels(redis, key);
    expect(a1).toBeCloseTo(8, 2);
    expect(b1).toBeCloseTo(1, 2);
    expect(await b.consume(1)).toBe(true);
    const [a2, b2] = await storedLevels(redis, key);
    expect(a2).toBeCloseTo(7, 2);
    expect(b2).toBeCloseTo(0, 2);
  });

  it('reports the longest wait over its limits', async () => {
    const b = new RedisTokenBucket({
      redis, key: uniqueKey('longest'),
      limits: [{ capacity: 10, fillRate: 10, initialTokens: 0 }, { capacity: 10, fillRate: 5, initialTokens: 0 }],
    });
    // The slow limit needs 200 ms for a token, the fast one 100 ms (less the few ms since creation).
    expect(await b.timeUntil(1)).toBeGreaterThan(100);
    const err = (await b.acquire(1, { maxWait: 0 }).catch((e: unknown) => e)) as RateLimitExceeded;
    expect(err).toBeInstanceOf(RateLimitExceeded);
    expect(err.retryAfter).toBeGreaterThan(100);
    expect(err.retryAfter).toBeLessThanOrEqual(200);
  });

  it('answers timeUntil and tokens without changing anything', async () => {
    const key = uniqueKey('peek');
    const b = new RedisTokenBucket({ redis, key, capacity: 10, fillRate: 0.01 });
    expect(await b.timeUntil(4)).toBe(0);
    expect(await b.tokens()).toBe(10);
    expect(await b.consume(8)).toBe(true);
    expect(await b.tokens()).toBeCloseTo(2, 2);
    expect(await b.timeUntil(3)).toBeGreaterThan(90_000); // 1 token at 0.01/s
    expect(await b.timeUntil(11)).toBe(Infinity);
    expect(await b.tokens()).toBeCloseTo(2, 2);
  });

  it('shares one bucket between clients (and so processes) using the same key', async () => {
    const key = uniqueKey('shared');
    const other = sharedClient();
    const a = new RedisTokenBucket({ redis, key, capacity: 4, fillRate: 0.001 });
    const b = new RedisTokenBucket({ redis: other, key, capacity: 4, fillRate: 0.001 });
    expect(await a.consume(3)).toBe(true);
    expect(await b.consume(2)).toBe(false);
    expect(await b.consume(1)).toBe(true);
    expect(await a.consume(1)).toBe(false);
    other.disconnect();
  });

  it('reloads its script transparently after SCRIPT FLUSH', async () => {
    const b = new RedisTokenBucket({ redis, key: uniqueKey('flush'), capacity: 5, fillRate: 0.001 });
    expect(await b.consume(1)).toBe(true);
    await redis.script('FLUSH');
    expect(await b.consume(1)).toBe(true);
    expect(await b.tokens()).toBeCloseTo(3, 2);
  });

  it('rejects with a clear error when the key holds something else', async () => {
    const hashKey = uniqueKey('wrongtype');
    await redis.hset(hashKey, 'a', '1');
    const err = (await new RedisTokenBucket({ redis, key: hashKey, capacity: 1, fillRate: 1 }).consume().catch((e: unknown) => e)) as RedisBucketError;
    expect(err).toBeInstanceOf(RedisBucketError);
    expect(err.message).toContain(`RedisTokenBucket "${hashKey}"`);
    expect(err.message).toContain('WRONGTYPE');
    expect(err.cause).toBeInstanceOf(Error);

    const textKey = uniqueKey('text');
    await redis.set(textKey, 'hello');
    const err2 = (await new RedisTokenBucket({ redis, key: textKey, capacity: 1, fillRate: 1 }).acquire().catch((e: unknown) => e)) as Error;
    expect(err2).toBeInstanceOf(RedisBucketError);
    expect(err2.message).toContain('holds a value that is not a bucket state');
    expect(await redis.get(textKey)).toBe('hello'); // left alone
    await redis.del(hashKey, textKey);
  });

  it('sleeps past setTimeout\'s 2^31-1 ms limit without waking early, and gives tokens back on abort', async () => {
    const key = uniqueKey('long');
    // 1 token at 1e-7 tokens/s: a wait of 1e10 ms, far past what one setTimeout can hold.
    const b = new RedisTokenBucket({ redis, key, capacity: 1, fillRate: 1e-7, initialTokens: 0 });
    const ctl = new AbortController();
    let settled: string | undefined;
    b.acquire(1, { signal: ctl.signal }).then(() => (settled = 'resolved'), (e: Error) => (settled = e.name));
    await sleep(60);
    expect(settled).toBeUndefined();
    expect(await b.tokens()).toBeCloseTo(-1, 3); // reserved
    ctl.abort();
    await sleep(30);
    expect(settled).toBe('AbortError');
    expect(await b.tokens()).toBeCloseTo(0, 3); // given back
  });

  it('gives back what a call took when it is aborted while the script runs', async () => {
    const key = uniqueKey('abort-in-flight');
    const b = new RedisTokenBucket({ redis, key, capacity: 5, fillRate: 0.001 });
    const ctl = new AbortController();
    const p = b.acquire(3, { signal: ctl.signal });
    ctl.abort(new Error('caller went away'));
    await expect(p).rejects.toThrow('caller went away');
    // The tokens go back once the script's reply comes, however late; nothing else refills them
    // (0.001/s).
    const aborted = performance.now();
    while ((await b.tokens()) < 4.99) {
      expect(performance.now() - aborted, 'the 3 tokens were not given back').toBeLessThan(5000);
      await sleep(10);
    }
    expect(await b.tokens()).toBeCloseTo(5, 2);
  });

  it('keeps thousands of sleeping waiters on one timer, each woken in its turn', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const order: number[] = [];
    const t0 = performance.now(); // before the bucket: its refill counts from its creation
    // Waiter i's token is earned i + 1 ms after the bucket is made; the last one 2 s after, twice
    // the calls' timeout.
    const b = new RedisTokenBucket({ redis, key: uniqueKey('many'), capacity: 1, fillRate: 1000, initialTokens: 0, timeout: 1000 });
    const all = Promise.all(Array.from({ length: 2000 }, (_, i) => b.acquire(1).then(() => order.push(i))));
    // Sent after the 2,000 takes on the same connection, so answered after every one of them: each
    // waiter now holds its reservation, asleep or already woken. Within the timeout, so well before
    // the last tokens are earned, however slow the machine.
    await b.tokens();
    const elapsed = performance.now() - t0;
    const sleeping = 2000 - order.length;
    expect(order.length).toBeLessThanOrEqual(elapsed + 1); // none woke before its token was earned ...
    expect(sleeping).toBeGreaterThan(0); // ... so the rest sleep, all on one timer
    expect(timers() - before).toBeLessThanOrEqual(3);
    await all;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(1990); // 2,000 tokens at 1,000/s
    expect(order).toEqual([...order].sort((x, y) => x - y)); // first come, first served
  });

  it('can be shared by functions through rateLimit({ bucket })', async () => {
    const bucket = new RedisTokenBucket({ redis, key: uniqueKey('ratelimit'), capacity: 2, fillRate: 0.001 });
    const limited = rateLimit({ bucket, block: false })(async (x: number) => x * 2);
    expect(await limited(1)).toBe(2);
    expect(await limited(2)).toBe(4);
    const err = (await limited(3).catch((e: unknown) => e)) as RateLimitExceeded;
    expect(err).toBeInstanceOf(RateLimitExceeded);
    expect(err.retryAfter).toBeGreaterThan(900_000);
    expect(() => rateLimit({ bucket, tokens: 3 })).toThrow(RangeError);
  });

  it('wakes the waiters behind an aborted one as soon as its tokens are given back', async () => {
    const b = new RedisTokenBucket({ redis, key: uniqueKey('wake'), capacity: 10, fillRate: 10, initialTokens: 0 });
    const ctl = new AbortController();
    const big = b.acquire(8, { signal: ctl.signal }).catch((e: Error) => e.name);
    const t0 = performance.now();
    const small = b.acquire(1).then(() => performance.now() - t0);
    await sleep(20);
    ctl.abort();
    expect(await big).toBe('AbortError');
    // Without the refund it would wait 900 ms; with 8 tokens back it is due at about 100 ms.
    expect(await small).toBeLessThan(400);
  });
});

describeRedis('RedisTokenBucket when Redis fails', 'shared', () => {
  let silent: Server;
  let silentPort: number;
  const sockets: Socket[] = [];
  let deadPort: number;
  const clients: Redis[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    // A server that accepts connections and never answers: the "no answer" case.
    silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentPort = (silent.address() as { port: number }).port;
    deadPort = await freePort(); // nothing listens here: the "unreachable" case
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
    process.off('unhandledRejection', onUnhandled);
  });

  const client = (port: number, extra: Record<string, unknown> = {}): Redis => {
    const c = new Redis({ port, host: '127.0.0.1', ...extra });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };

  it('rejects within its timeout when Redis does not answer, whatever ioredis would retry', async () => {
    const b = new RedisTokenBucket({ redis: client(silentPort), key: 'k', capacity: 5, fillRate: 1, timeout: 150 });
    const t0 = performance.now();
    const err = (await b.consume().catch((e: unknown) => e)) as Error;
    const took = performance.now() - t0;
    expect(err).toBeInstanceOf(RedisBucketError);
    expect(err.message).toBe('RedisTokenBucket "k": no answer from Redis within 150 ms (timeout)');
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(1000);
  });

  it('rejects promptly when Redis is unreachable, with the ioredis error as cause', async () => {
    const b = new RedisTokenBucket({
      redis: client(deadPort, { enableOfflineQueue: false, lazyConnect: true }), key: 'k', capacity: 5, fillRate: 1,
    });
    const err = (await b.acquire().catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(RedisBucketError);
    expect(err.message).toMatch(/^RedisTokenBucket "k": Redis call failed: /);
    expect(err.cause).toBeInstanceOf(Error);
    // And with ioredis' default offline queue and retries: our timeout still decides.
    const queued = new RedisTokenBucket({ redis: client(deadPort), key: 'k', capacity: 5, fillRate: 1, timeout: 100 });
    await expect(queued.consume()).rejects.toThrow('no answer from Redis within 100 ms');
  });

  it("'allow' admits, 'deny' refuses (RateLimitExceeded with the cause), a local bucket decides", async () => {
    const redis = client(silentPort);
    const allow = new RedisTokenBucket({ redis, key: 'k', capacity: 5, fillRate: 1, timeout: 50, onRedisError: 'allow' });
    expect(await allow.consume(5)).toBe(true);
    await expect(allow.acquire(5)).resolves.toBeUndefined();

    const deny = new RedisTokenBucket({ redis, key: 'k', capacity: 5, fillRate: 1, timeout: 50, onRedisError: 'deny' });
    expect(await deny.consume()).toBe(false);
    expect(await deny.consume(1, { block: true })).toBe(false);
    const refused = (await deny.acquire().catch((e: unknown) => e)) as RateLimitExceeded;
    expect(refused).toBeInstanceOf(RateLimitExceeded);
    expect(refused.cause).toBeInstanceOf(RedisBucketError);

    const insurance = new TokenBucket({ capacity: 2, fillRate: 0 });
    const insured = new RedisTokenBucket({ redis, key: 'k', capacity: 5, fillRate: 1, timeout: 50, onRedisError: insurance });
    expect(await insured.consume()).toBe(true);
    expect(await insured.consume()).toBe(true);
    expect(await insured.consume()).toBe(false);
    await expect(insured.acquire(1, { maxWait: 10 })).rejects.toBeInstanceOf(RateLimitExceeded);
  });

  it('drops a reply that comes after the timeout: no unhandled rejection, no late effect on the caller', async () => {
    const redis = sharedClient();
    clients.push(redis);
    const pauser = sharedClient();
    clients.push(pauser);
    const key = uniqueKey('late');
    const b = new RedisTokenBucket({ redis, key, capacity: 5, fillRate: 0.001, timeout: 100 });
    await pauser.client('PAUSE', 400, 'WRITE');
    const err = await b.consume(2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisBucketError);
    await sleep(500); // the paused script runs and answers now, to nobody
    expect(unhandled).toEqual([]);
    expect(await b.consume(1)).toBe(true);
  });
});
