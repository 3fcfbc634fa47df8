// A RedisSemaphore shared by several real processes: never more holders than the limit (counted
// by the holders themselves, not by the library), a killed holder or waiter never keeps a slot
// for good, a long run keeps its slot, and waiting processes leave Redis alone while they wait.
// Times are read on the machine's monotonic clock, which every process shares: a fact another
// process reports (it held the slot from..to) sits on the same axis as the parent's.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisSemaphore, type RedisLease } from 'bucketflow/redis';
import { describeRedis, redisPidDir, redisUrl, sharedClient, sleep, uniqueKey } from './helpers/env.js';
import type { Held, HolderJob, HolderMessage } from './helpers/semaphore-holder.js';
import { RedisServer } from './helpers/servers.js';

// Types only from the helper: importing it would run its IPC handler in this (worker) process.
const holderScript = fileURLToPath(new URL('./helpers/semaphore-holder.ts', import.meta.url));
const machineNow = (): number => Number(process.hrtime.bigint()) / 1e6;

/** A semaphore-holder process: its messages in arrival order, and the means to kill it. */
class Holder {
  readonly #proc: ChildProcess;
  readonly #inbox: HolderMessage[] = [];
  #waiting: ((m: HolderMessage | Error) => void) | undefined;
  #exit: Promise<void>;
  #gone: string | undefined;

  constructor(job: HolderJob) {
    this.#proc = fork(holderScript, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#proc.on('message', (m) => this.#deliver(m as HolderMessage));
    this.#exit = new Promise((resolve) => this.#proc.once('exit', (code, signal) => {
      this.#gone = `holder process exited (${signal ?? code}) before saying what the test waited for`;
      this.#waiting?.(new Error(this.#gone));
      resolve();
    }));
    this.#proc.send(job);
  }

  #deliver(m: HolderMessage): void {
    const waiting = this.#waiting;
    if (waiting === undefined) this.#inbox.push(m);
    else waiting(m);
  }

  /** The next message, which must be of `type` (an 'error' from the child fails the test with its text). */
  async next<T extends HolderMessage['type']>(type: T): Promise<Extract<HolderMessage, { type: T }>> {
    const m = this.#inbox.shift() ?? (this.#gone !== undefined ? new Error(this.#gone) : await new Promise<HolderMessage | Error>((resolve) => {
      this.#waiting = (x) => {
        this.#waiting = undefined;
        resolve(x);
      };
    }));
    if (m instanceof Error) throw m;
    if (m.type === 'error') throw new Error(`holder process failed: ${m.message}`);
    if (m.type !== type) throw new Error(`holder process said ${JSON.stringify(m)}, expected '${type}'`);
    return m as Extract<HolderMessage, { type: T }>;
  }

  send(message: 'go' | 'release'): void {
    this.#proc.send(message);
  }

  get alive(): boolean {
    return this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  /** SIGKILL: no release, no goodbye; returns once the process is gone. */
  async kill(): Promise<void> {
    if (this.alive) this.#proc.kill('SIGKILL');
    await this.#exit;
  }
}

const holders: Holder[] = [];

/** Starts a holder process with `job` and waits until it is connected. */
async function startHolder(job: HolderJob): Promise<Holder> {
  const h = new Holder(job);
  holders.push(h);
  await h.next('ready');
  return h;
}

afterEach(async () => {
  await Promise.all(holders.splice(0).map((h) => h.kill()));
});

/** Waits until `condition` holds, asking every 20 ms, or fails after `ms` naming `what`. */
async function until(what: string, condition: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = machineNow() + ms;
  while (!(await condition())) {
    if (machineNow() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

/** Most stretches that overlap at any moment (one that ends as another starts does not overlap it). */
function maxOverlap(held: Held[]): number {
  const edges = held.flatMap((h) => [[h.from, 1], [h.to, -1]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, step] of edges) most = Math.max(most, (now += step));
  return most;
}

describeRedis('RedisSemaphore shared by several processes', 'shared', () => {
  let client: Redis;
  beforeAll(() => {
    client = sharedClient();
  });
  afterAll(() => {
    client.disconnect();
  });

  it('4 processes x 20 holders on a limit of 5: never more than 5 inside run at once, all 240 runs done, and it was contended', async () => {
    const job: HolderJob = {
      kind: 'hammer', url: redisUrl, key: uniqueKey('sem-mp'), limit: 5,
      holders: 20, runs: 3, minHoldMs: 5, maxHoldMs: 30, counterKey: uniqueKey('sem-mp-counter'),
    };
    const procs = await Promise.all(Array.from({ length: 4 }, () => startHolder(job)));
    const t0 = machineNow();
    for (const p of procs) p.send('go');
    const reports = await Promise.all(procs.map((p) => p.next('report')));
    const held = reports.flatMap((r) => r.held);
    const counterMax = Math.max(...reports.map((r) => r.counterMax));
    const waits = held.map((h) => h.from - h.asked);
    // Waited longer than any hold lasts: it queued behind another holder.
    const queued = waits.filter((w) => w > job.maxHoldMs).length;
    console.log(`semaphore 4x20 holders, limit 5: ${held.length} runs in ${(machineNow() - t0).toFixed(0)} ms; `
      + `most at once ${counterMax} (counter), ${maxOverlap(held)} (intervals); ${queued} runs waited > ${job.maxHoldMs} ms, longest ${Math.max(...waits).toFixed(0)} ms`);

    expect(reports.flatMap((r) => r.errors)).toEqual([]);
    expect(held).toHaveLength(4 * 20 * 3);
    expect(counterMax).toBeLessThanOrEqual(5);
    expect(maxOverlap(held)).toBeLessThanOrEqual(5);
    // Contended: every slot was in use at some moment, and most runs had to wait their turn.
    expect(counterMax).toBe(5);
    expect(queued).toBeGreaterThan(held.length / 2);
    // Nothing left behind: no lease, no waiter, every holder left the counter.
    const sem = new RedisSemaphore({ redis: client, key: job.key, limit: 5 });
    expect(await sem.inUse()).toBe(0);
    expect(await sem.waiting()).toBe(0);
    expect(await client.get(job.counterKey)).toBe('0');
    await client.del(job.counterKey);
  }, 20_000);

  it('a holder killed with SIGKILL frees its slot once its lease time has passed, not before', async () => {
    const leaseTime = 1500;
    const key = uniqueKey('sem-killed-holder');
    const holder = await startHolder({ kind: 'hold', url: redisUrl, key, limit: 1, leaseTime });
    holder.send('go');
    const held = await holder.next('held');
    await holder.kill();
    const sem = new RedisSemaphore({ redis: client, key, limit: 1, leaseTime });
    const asked = machineNow();
    const lease = await sem.acquire({ maxWait: leaseTime + 3000 });
    const got = machineNow();
    await lease.release();
    console.log(`killed holder: its slot came free ${(got - held.at).toFixed(0)} ms after it was granted (lease ${leaseTime} ms); waited ${(got - asked).toFixed(0)} ms`);
    // The lease was granted after the holder asked, and lasts leaseTime from then (server time).
    expect(got - held.asked).toBeGreaterThanOrEqual(leaseTime - 50);
    // ...and at most leaseTime after the holder had it: a waiter is told (or asks) soon after.
    expect(got - held.at).toBeLessThanOrEqual(leaseTime + 2500);
    expect(got - asked).toBeLessThanOrEqual(leaseTime + 2500);
  }, 20_000);

  it('a waiter killed while queued does not block the waiters behind it', async () => {
    const key = uniqueKey('sem-killed-waiter');
    const sem = new RedisSemaphore({ redis: client, key, limit: 1 });
    const holder = await startHolder({ kind: 'hold', url: redisUrl, key, limit: 1 });
    const doomed = await startHolder({ kind: 'wait', url: redisUrl, key, limit: 1, waiters: 1, maxWait: 60_000, holdMs: 0 });
    holder.send('go');
    await holder.next('held');
    doomed.send('go');
    await until('the doomed waiter queued', async () => (await sem.waiting()) === 1);
    await doomed.kill();
    let lease: RedisLease | undefined;
    const granted = sem.acquire({ maxWait: 20_000 }).then((l) => {
      lease = l;
      return machineNow();
    });
    // Queued behind the dead waiter, whose place is still there.
    await until('this waiter queued behind the dead one', async () => (await sem.waiting()) === 2);
    const released = machineNow();
    holder.send('release');
    await holder.next('released');
    const got = await granted;
    await lease!.release();
    console.log(`killed waiter: the one behind it got the slot ${(got - released).toFixed(0)} ms after the holder released`);
    // A waiter not heard from for 5 s counts as gone; the one behind asks at least once a second.
    expect(got - released).toBeLessThanOrEqual(12_000);
    expect(await sem.waiting()).toBe(0);
  }, 25_000);

  it('run keeps its lease while its function runs longer than leaseTime, and frees it after', async () => {
    const leaseTime = 600;
    const holdMs = 2000;
    const key = uniqueKey('sem-long-run');
    const holder = await startHolder({ kind: 'run', url: redisUrl, key, limit: 1, leaseTime, holdMs });
    const sem = new RedisSemaphore({ redis: client, key, limit: 1, leaseTime });
    holder.send('go');
    const held = await holder.next('held');
    const ran = holder.next('ran');
    // Each try, and when its answer came (ms after the run's function started).
    const tries: { answeredAfter: number; lease: RedisLease | undefined }[] = [];
    while (machineNow() - held.at < holdMs - 300) {
      const lease = await sem.tryAcquire();
      tries.push({ answeredAfter: machineNow() - held.at, lease });
      await lease?.release();
      await sleep(200);
    }
    const { leaseLost } = await ran;
    const after = await sem.tryAcquire();
    await after?.release();
    console.log(`long run: tries at ${tries.map((t) => `${t.answeredAfter.toFixed(0)}${t.lease ? ' GOT' : ''}`).join(', ')} ms into a ${holdMs} ms run (lease ${leaseTime} ms)`);

    // Answered while the function still ran (the holder releases only after it): refused.
    const during = tries.filter((t) => t.answeredAfter < holdMs);
    expect(during.filter((t) => t.lease !== undefined).map((t) => t.answeredAfter)).toEqual([]);
    // Tries well past the lease time, or this would show nothing.
    expect(during.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...during.map((t) => t.answeredAfter))).toBeGreaterThan(2 * leaseTime);
    expect(leaseLost).toBe(false);
    expect(after).toBeDefined();
  }, 20_000);
});

/** Script calls the server has run: EVALSHA, and EVAL for a script it did not have yet. */
async function scriptCalls(admin: Redis): Promise<number> {
  const info = await admin.info('commandstats');
  let calls = 0;
  for (const [, n] of info.matchAll(/^cmdstat_(?:evalsha|eval|evalsha_ro|eval_ro|fcall|fcall_ro):calls=(\d+)/gm)) calls += Number(n);
  return calls;
}

// A server of its own: the run's shared one counts other files' commands too.
describeRedis('RedisSemaphore waiters in several processes, on a server of their own', 'binary', () => {
  let server: RedisServer;
  let client: Redis;
  beforeAll(async () => {
    server = await RedisServer.start({ pidDir: redisPidDir });
    client = new Redis(server.url);
    client.on('error', () => {});
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it('30 waiters in 3 processes make few Redis calls while they wait, and are all served in turn once the slot frees', async () => {
    const quietMs = 3000;
    const key = 'sem-quiet';
    const sem = new RedisSemaphore({ redis: client, key, limit: 1 });
    const lease = await sem.acquire();
    const job: HolderJob = { kind: 'wait', url: server.url, key, limit: 1, waiters: 10, maxWait: 60_000, holdMs: 10 };
    const procs = await Promise.all(Array.from({ length: 3 }, () => startHolder(job)));
    for (const p of procs) p.send('go');
    await until('all 30 waiters queued', async () => (await sem.waiting()) === 30);
    const before = await scriptCalls(client);
    await sleep(quietMs);
    const calls = (await scriptCalls(client)) - before;
    const released = machineNow();
    await lease.release();
    const reports = await Promise.all(procs.map((p) => p.next('report')));
    const held = reports.flatMap((r) => r.held);
    const lastServed = Math.max(...held.map((h) => h.from)) - released;
    console.log(`quiet wait: 30 waiters in 3 processes made ${calls} script calls in ${quietMs} ms; all served within ${lastServed.toFixed(0)} ms of the release`);

    // About one ask a second per process (for all its waiters), not one per waiter or a busy poll.
    expect(calls).toBeLessThanOrEqual(20);
    expect(reports.flatMap((r) => r.errors)).toEqual([]);
    expect(held).toHaveLength(30);
    // Nobody got the slot while it was held, and one at a time after.
    expect(Math.min(...held.map((h) => h.from))).toBeGreaterThanOrEqual(released);
    expect(maxOverlap(held)).toBe(1);
    // In turn: each process's waiters in the order they asked.
    for (const r of reports) {
      const order = [...r.held].sort((a, b) => a.from - b.from).map((h) => h.who);
      expect(order).toEqual(Array.from({ length: 10 }, (_, i) => i));
    }
    // Handed on by wake-ups: found by the once-a-second asks alone, 30 handoffs would take ~15 s.
    expect(lastServed).toBeLessThanOrEqual(10_000);
    expect(await sem.waiting()).toBe(0);
    expect(await sem.inUse()).toBe(0);
  }, 25_000);
});
