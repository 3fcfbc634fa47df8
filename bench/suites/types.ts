import type { Metrics, Timing } from '../measure.js';

/** What the runner hands a child process: one row, one contender. */
export interface Job {
  suite: string;
  contender: string;
  timing: Timing;
  /** Port of the bench's private redis-server (Redis rows only). */
  redisPort?: number;
}

/** A contender of one row, run inside its own child process. */
export type Contender = (job: Job) => Promise<Metrics> | Metrics;
