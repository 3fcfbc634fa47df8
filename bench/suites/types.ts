import type { Metrics, Timing } from '../measure.js';

/** What the runner hands a child process: one row, one contender. */
export interface Job {
  suite: string;
  contender: string;
  timing: Timing;
  /** Port of the bench's private redis-server (Redis rows only). */
  redisPort?: number;
  /**
   * Set only in the load generator an HTTP row's server process forks (the same child script):
   * this process then loads the server instead of serving.
   */
  load?: LoadJob;
}

/** What an HTTP row's load generator loads, and for how long. */
export interface LoadJob {
  url: string;
  ms: number;
}

/** A contender of one row, run inside its own child process. */
export type Contender = (job: Job) => Promise<Metrics> | Metrics;
