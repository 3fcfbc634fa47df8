// Runs hammer processes (hammer.ts) together and reads their reports: the multi-process tests'
// driver (multiprocess.test.ts, and clients/multiprocess.test.ts with several client libraries).

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { askingMs } from './asking.js';
import type { HammerJob, HammerReport } from './hammer.js';

const hammer = fileURLToPath(new URL('./hammer.ts', import.meta.url));
/** How long each hammer runs (ms). */
export const DURATION = 2000;

/** Starts one child per job, lets them all go at once, and returns their reports. */
export async function runHammers(jobs: HammerJob[]): Promise<HammerReport[]> {
  const children = jobs.map(() => fork(hammer, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  try {
    await Promise.all(children.map((child, i) => new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`hammer process exited early (${code})`)));
      child.send(jobs[i]!);
    })));
    const reports = children.map((child) => new Promise<HammerReport>((resolve) => child.once('message', (r) => resolve(r as HammerReport))));
    for (const child of children) child.send('go');
    return await Promise.all(reports);
  } finally {
    for (const child of children) child.removeAllListeners('exit');
    for (const child of children) if (child.exitCode === null) child.kill();
  }
}

/** Tokens admitted to bucket `name` over all reports. */
export const sum = (reports: HammerReport[], name: string) => reports.reduce((s, r) => s + (r.admitted[name] ?? 0), 0);

/**
 * Seconds from the first request any process made to the last answer any process got, on the
 * machine's clock: every token was handed out within it, so no more than capacity + fillRate × this.
 */
export const windowSeconds = (reports: HammerReport[]) =>
  (Math.max(...reports.map((r) => r.end)) - Math.min(...reports.map((r) => r.start))) / 1000;

/**
 * Seconds in which some process was asking: each process from its first request to its last
 * answer, less the stretches in which it got no answer (it, or Redis, was not running).
 */
export const askingSeconds = (reports: HammerReport[]) => askingMs(reports.map((r) => ({ from: r.start, to: r.end, idle: r.idle }))) / 1000;
