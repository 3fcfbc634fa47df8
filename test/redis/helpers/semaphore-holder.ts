// A child process for the multi-process semaphore tests: gets one HolderJob over IPC, connects,
// says 'ready', and on 'go' does the job against a RedisSemaphore shared with other processes,
// telling the parent over IPC what happened and when (on the machine's clock, so the parent can
// put several processes on one time axis). The parent may SIGKILL it at any point: that is what
// some tests are about.
//
// Run with `node --import tsx`.

import { Redis } from 'ioredis';
import { RedisSemaphore, type RedisLease } from '../../../src/redis.js';

/**
 * Milliseconds on the machine's monotonic clock (CLOCK_MONOTONIC), the same timeline in every
 * process of the machine.
 */
const machineNow = (): number => Number(process.hrtime.bigint()) / 1e6;

interface Semaphore {
  url: string;
  key: string;
  limit: number;
  leaseTime?: number;
}

export type HolderJob =
  /**
   * `holders` concurrent loops of `runs` × `sem.run(fn)`, fn holding `minHoldMs`..`maxHoldMs`
   * (random). Inside fn each holder INCRs `counterKey` with a plain client (this process's, not the
   * semaphore's), and DECRs it before leaving: the counter's highest value is a count of holders
   * inside fn at once that does not trust the library.
   */
  | (Semaphore & { kind: 'hammer'; holders: number; runs: number; minHoldMs: number; maxHoldMs: number; counterKey: string })
  /** acquire(), says 'held', and releases on the parent's 'release' (then says 'released'). */
  | (Semaphore & { kind: 'hold' })
  /** run(fn) with fn lasting `holdMs`: says 'held' on entering fn, 'ran' once run has resolved. */
  | (Semaphore & { kind: 'run'; holdMs: number })
  /** `waiters` acquire({ maxWait }) at once; each holds `holdMs` once granted, then releases. */
  | (Semaphore & { kind: 'wait'; waiters: number; maxWait: number; holdMs: number });

/** One stretch inside a semaphore slot, on {@link machineNow}'s clock. */
export interface Held {
  /** Which holder (or waiter) of this process. */
  who: number;
  /** When it asked for the slot. */
  asked: number;
  /** When it had it (after the grant) ... */
  from: number;
  /** ... and when it stopped using it (before the release). */
  to: number;
}

export type HolderMessage =
  | { type: 'ready' }
  | { type: 'held'; asked: number; at: number }
  | { type: 'released' }
  | { type: 'ran'; leaseLost: boolean }
  | { type: 'report'; held: Held[]; counterMax: number; errors: string[] }
  | { type: 'error'; message: string };

const send = (m: HolderMessage): void => {
  process.send!(m);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** The next message from the parent (after the job). */
const nextMessage = (): Promise<unknown> => new Promise((r) => process.once('message', r));

async function hammer(job: Extract<HolderJob, { kind: 'hammer' }>, sem: RedisSemaphore, counter: Redis): Promise<HolderMessage> {
  const held: Held[] = [];
  const errors: string[] = [];
  let counterMax = 0;
  await Promise.all(Array.from({ length: job.holders }, async (_, who) => {
    for (let i = 0; i < job.runs; i++) {
      const asked = machineNow();
      try {
        await sem.run(async () => {
          const from = machineNow();
          counterMax = Math.max(counterMax, await counter.incr(job.counterKey));
          await sleep(job.minHoldMs + Math.random() * (job.maxHoldMs - job.minHoldMs));
          await counter.decr(job.counterKey);
          held.push({ who, asked, from, to: machineNow() });
        });
      } catch (error) {
        errors.push(String(error));
      }
    }
  }));
  return { type: 'report', held, counterMax, errors };
}

async function waiters(job: Extract<HolderJob, { kind: 'wait' }>, sem: RedisSemaphore): Promise<HolderMessage> {
  const held: Held[] = [];
  const errors: string[] = [];
  await Promise.all(Array.from({ length: job.waiters }, async (_, who) => {
    const asked = machineNow();
    try {
      const lease = await sem.acquire({ maxWait: job.maxWait });
      const from = machineNow();
      await sleep(job.holdMs);
      held.push({ who, asked, from, to: machineNow() });
      await lease.release();
    } catch (error) {
      errors.push(String(error));
    }
  }));
  return { type: 'report', held, counterMax: 0, errors };
}

/** Does the job; resolves the last message to send. */
async function main(job: HolderJob, sem: RedisSemaphore, redis: Redis): Promise<HolderMessage> {
  switch (job.kind) {
    case 'hammer':
      return hammer(job, sem, redis);
    case 'wait':
      return waiters(job, sem);
    case 'hold': {
      const asked = machineNow();
      const lease: RedisLease = await sem.acquire();
      send({ type: 'held', asked, at: machineNow() });
      await nextMessage();
      await lease.release();
      return { type: 'released' };
    }
    case 'run': {
      const asked = machineNow();
      let leaseLost = true;
      await sem.run(async (lease) => {
        send({ type: 'held', asked, at: machineNow() });
        await sleep(job.holdMs);
        leaseLost = lease.signal.aborted;
      });
      return { type: 'ran', leaseLost };
    }
  }
}

process.once('message', (job: HolderJob) => {
  // Two clients: the semaphore's, and a plain one for what the test measures besides it.
  const redis = new Redis(job.url);
  const semClient = new Redis(job.url);
  redis.on('error', () => {});
  semClient.on('error', () => {});
  const sem = new RedisSemaphore({ redis: semClient, key: job.key, limit: job.limit, leaseTime: job.leaseTime });
  void Promise.all([redis.ping(), semClient.ping()]).then(async () => {
    const go = nextMessage();
    send({ type: 'ready' });
    await go;
    const last = await main(job, sem, redis).catch((error: unknown): HolderMessage => ({ type: 'error', message: String(error) }));
    // Exits once the last message is out: the semaphore's wake-up connection must not keep it.
    process.send!(last, () => process.exit(0));
  });
});
