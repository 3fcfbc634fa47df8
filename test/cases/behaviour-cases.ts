// One table of bucket behaviours, run by several drivers (local buckets on a ManualClock, the
// Redis bucket on real time), so the bucket kinds cannot drift apart. Numbers leave wide
// margins where time passes, so a driver whose `advance` really sleeps (Redis: server time)
// gets the same answers as one whose clock jumps exactly.

export interface CaseLimit {
  capacity: number;
  fillRate: number;
  initialTokens?: number;
}

/** The slice of a bucket the table talks to; every driver adapts its bucket to it. */
export interface CaseBucket {
  consume(n?: number, options?: { block?: boolean; maxWait?: number }): Promise<boolean>;
  acquire(n?: number, options?: { maxWait?: number; signal?: AbortSignal }): Promise<void>;
}

export interface CaseDriver {
  readonly name: string;
  /** Whether `consume({ block: true })` can wait while the test moves time (false for a sync bucket). */
  readonly canBlock: boolean;
  create(limit: CaseLimit): CaseBucket | Promise<CaseBucket>;
  /** Lets `ms` milliseconds of bucket time pass (a ManualClock jump, or a real sleep). */
  advance(ms: number): Promise<void>;
  /** How far a measured wait may be from the exact one, in ms (0 for a ManualClock). */
  readonly slackMs: number;
  /**
   * Cases this kind answers differently by design, by case name, with the documented reason
   * (e.g. a keyed bucket with `initialTokens < capacity` starts over once full). They still run
   * and must fail, so an implementation that changes is noticed.
   */
  readonly deviations?: Readonly<Record<string, string>>;
}

export type Outcome = boolean | 'ok' | 'RateLimitExceeded' | 'RangeError' | 'TypeError';

export type Step =
  /** consume now; `expect` is its result or the error it rejects/throws with. */
  | { consume: number; block?: boolean; maxWait?: number; expect: Outcome }
  /** acquire now and wait for it to settle; `retryAfter` (ms) is checked on RateLimitExceeded. */
  | { acquire: number; maxWait?: number; expect: Outcome; retryAfter?: number }
  /** start a waiting call in the background under `id`. */
  | { start: 'acquire' | 'consume'; id: string; n: number; maxWait?: number; abort?: boolean }
  /** let time pass. */
  | { advance: number }
  /** abort a background call started with `abort: true`. */
  | { abort: string }
  /** check the state of a background call: still pending, or what it settled with. */
  | { check: string; expect: 'pending' | Outcome | 'AbortError' };

export interface BehaviourCase {
  readonly name: string;
  readonly limit: CaseLimit;
  /** Needs a driver that can block (background `consume` with `block`). */
  readonly blocking?: boolean;
  readonly steps: readonly Step[];
}

export const behaviourCases: readonly BehaviourCase[] = [
  {
    name: 'a new bucket starts full and gives out exactly its capacity',
    limit: { capacity: 10, fillRate: 1 },
    steps: [{ consume: 10, expect: true }, { consume: 1, expect: false }],
  },
  {
    name: 'consume takes one token by default',
    limit: { capacity: 3, fillRate: 1 },
    steps: [{ consume: 1, expect: true }, { consume: 1, expect: true }, { consume: 1, expect: true }, { consume: 1, expect: false }],
  },
  {
    name: 'initialTokens sets the starting level',
    limit: { capacity: 10, fillRate: 1, initialTokens: 3 },
    steps: [{ consume: 4, expect: false }, { consume: 3, expect: true }, { consume: 1, expect: false }],
  },
  {
    name: 'a refused consume takes nothing',
    limit: { capacity: 5, fillRate: 1 },
    steps: [{ consume: 3, expect: true }, { consume: 3, expect: false }, { consume: 2, expect: true }],
  },
  {
    name: 'tokens refill at fillRate per second',
    limit: { capacity: 10, fillRate: 20, initialTokens: 0 },
    steps: [{ consume: 1, expect: false }, { advance: 260 }, { consume: 5, expect: true }, { consume: 2, expect: false }],
  },
  {
    name: 'refill stops at capacity',
    limit: { capacity: 4, fillRate: 40, initialTokens: 0 },
    steps: [{ advance: 400 }, { consume: 4, expect: true }, { consume: 1, expect: false }],
  },
  {
    name: 'fractional tokens add up',
    limit: { capacity: 1, fillRate: 1 },
    steps: [{ consume: 0.3, expect: true }, { consume: 0.3, expect: true }, { consume: 0.4, expect: true }, { consume: 0.1, expect: false }],
  },
  {
    name: 'consume(0) always succeeds, even on an empty bucket',
    limit: { capacity: 2, fillRate: 0, initialTokens: 0 },
    steps: [{ consume: 0, expect: true }],
  },
  {
    name: 'n above capacity is refused without blocking and a RangeError when waiting',
    limit: { capacity: 5, fillRate: 100 },
    steps: [
      { consume: 6, expect: false },
      { acquire: 6, expect: 'RangeError' },
      { consume: 5, expect: true },
    ],
  },
  {
    name: 'bad token counts are errors and take nothing',
    limit: { capacity: 5, fillRate: 1 },
    steps: [
      { consume: -1, expect: 'RangeError' },
      { consume: Number.NaN, expect: 'RangeError' },
      { consume: Infinity, expect: 'RangeError' },
      { acquire: -1, expect: 'RangeError' },
      { consume: 5, expect: true },
    ],
  },
  {
    name: 'a fixed quota (fillRate 0) never refills and refuses every wait',
    limit: { capacity: 2, fillRate: 0 },
    steps: [
      { consume: 2, expect: true },
      { advance: 100 },
      { consume: 1, expect: false },
      { acquire: 1, maxWait: 10_000, expect: 'RateLimitExceeded', retryAfter: Infinity },
      { acquire: 1, expect: 'RateLimitExceeded', retryAfter: Infinity },
    ],
  },
  {
    name: 'acquire with maxWait 0 reports retryAfter',
    limit: { capacity: 2, fillRate: 10, initialTokens: 0 },
    steps: [{ acquire: 1, maxWait: 0, expect: 'RateLimitExceeded', retryAfter: 100 }],
  },
  {
    name: 'acquire refuses at once when the wait exceeds maxWait, taking nothing',
    limit: { capacity: 10, fillRate: 10, initialTokens: 0 },
    steps: [
      { acquire: 5, maxWait: 100, expect: 'RateLimitExceeded', retryAfter: 500 },
      { advance: 150 },
      { consume: 1, expect: true },
    ],
  },
  {
    name: 'acquire waits for the tokens to refill',
    limit: { capacity: 10, fillRate: 10, initialTokens: 0 },
    steps: [
      { start: 'acquire', id: 'a', n: 3 },
      { advance: 150 },
      { check: 'a', expect: 'pending' },
      { advance: 250 },
      { check: 'a', expect: 'ok' },
    ],
  },
  {
    name: 'waiters are served first come, first served: a large early request is not overtaken',
    limit: { capacity: 10, fillRate: 10, initialTokens: 0 },
    steps: [
      { start: 'acquire', id: 'big', n: 5 },
      { start: 'acquire', id: 'small', n: 1 },
      { advance: 200 },
      { consume: 1, expect: false },
      { check: 'small', expect: 'pending' },
      { check: 'big', expect: 'pending' },
      { advance: 400 },
      { check: 'big', expect: 'ok' },
      { check: 'small', expect: 'ok' },
    ],
  },
  {
    name: 'aborting a waiter rejects it with the reason and gives its tokens to those behind',
    limit: { capacity: 10, fillRate: 10, initialTokens: 0 },
    steps: [
      { start: 'acquire', id: 'big', n: 8, abort: true },
      { start: 'acquire', id: 'next', n: 2 },
      { advance: 100 },
      { abort: 'big' },
      { check: 'big', expect: 'AbortError' },
      { advance: 150 },
      { check: 'next', expect: 'ok' },
    ],
  },
  {
    name: 'blocking consume waits for the tokens',
    limit: { capacity: 5, fillRate: 10, initialTokens: 0 },
    blocking: true,
    steps: [
      { start: 'consume', id: 'c', n: 2 },
      { advance: 100 },
      { check: 'c', expect: 'pending' },
      { advance: 200 },
      { check: 'c', expect: true },
    ],
  },
  {
    name: 'blocking consume returns false at once when the wait exceeds maxWait',
    limit: { capacity: 5, fillRate: 10, initialTokens: 0 },
    steps: [{ consume: 3, block: true, maxWait: 100, expect: false }, { advance: 150 }, { consume: 1, expect: true }],
  },
  {
    name: 'maxWait is ignored when not blocking',
    limit: { capacity: 5, fillRate: 10, initialTokens: 0 },
    steps: [{ consume: 1, maxWait: 10_000, expect: false }],
  },
  {
    name: 'BucketFlow README: a 10-token bucket at 2/s gives 1, then 5, refuses 5, gives the 4 left',
    limit: { capacity: 10, fillRate: 2 },
    steps: [{ consume: 1, expect: true }, { consume: 5, expect: true }, { consume: 5, expect: false }, { consume: 4, expect: true }],
  },
  {
    name: 'BucketFlow boundary: a tiny capacity and rate hand out fractions',
    limit: { capacity: 0.1, fillRate: 0.1 },
    steps: [{ consume: 0.05, expect: true }, { consume: 0.05, expect: true }, { consume: 0.05, expect: false }],
  },
  {
    name: 'a fractional fill rate refills in fractions',
    limit: { capacity: 3, fillRate: 2.5, initialTokens: 0 },
    steps: [{ advance: 1000 }, { consume: 2, expect: true }, { consume: 1, expect: false }],
  },
  {
    name: 'acquire takes tokens that are there at once',
    limit: { capacity: 5, fillRate: 1 },
    steps: [{ acquire: 5, expect: 'ok' }, { consume: 1, expect: false }, { acquire: 0, expect: 'ok' }],
  },
  {
    name: 'consume(0) succeeds while a waiter is queued, consume(1) does not',
    limit: { capacity: 10, fillRate: 10, initialTokens: 0 },
    steps: [
      { start: 'acquire', id: 'w', n: 5 },
      { consume: 0, expect: true },
      { consume: 1, expect: false },
      { advance: 650 },
      { check: 'w', expect: 'ok' },
    ],
  },
  {
    name: 'a waiting acquire whose wait exceeds maxWait is refused at once, taking nothing',
    limit: { capacity: 10, fillRate: 10, initialTokens: 0 },
    steps: [
      { start: 'acquire', id: 'a', n: 5, maxWait: 100 },
      { advance: 50 }, // a round trip for a remote bucket; the wait it refused is 500 ms
      { check: 'a', expect: 'RateLimitExceeded' },
      { advance: 150 },
      { consume: 1, expect: true },
    ],
  },
  {
    name: 'a waiting acquire within maxWait waits and succeeds',
    limit: { capacity: 10, fillRate: 10, initialTokens: 0 },
    steps: [
      { start: 'acquire', id: 'a', n: 2, maxWait: 1000 },
      { advance: 100 },
      { check: 'a', expect: 'pending' },
      { advance: 250 },
      { check: 'a', expect: 'ok' },
    ],
  },
  {
    name: 'an aborted waiter gives its tokens back to the bucket',
    limit: { capacity: 10, fillRate: 1, initialTokens: 4 },
    steps: [
      { start: 'acquire', id: 'a', n: 6, abort: true },
      { consume: 1, expect: false },
      { abort: 'a' },
      { check: 'a', expect: 'AbortError' },
      { consume: 4, expect: true },
    ],
  },
  {
    name: 'blocking consume with a long enough maxWait waits and takes the tokens',
    limit: { capacity: 5, fillRate: 10, initialTokens: 0 },
    blocking: true,
    steps: [
      { start: 'consume', id: 'c', n: 2, maxWait: 1000 },
      { advance: 100 },
      { check: 'c', expect: 'pending' },
      { advance: 200 },
      { check: 'c', expect: true },
      { consume: 2, expect: false }, // about 1 token left of the 3 earned
    ],
  },
  {
    name: 'blocking consume beyond maxWait resolves false at once',
    limit: { capacity: 5, fillRate: 10, initialTokens: 0 },
    blocking: true,
    steps: [{ start: 'consume', id: 'c', n: 3, maxWait: 100 }, { advance: 50 }, { check: 'c', expect: false }],
  },
];
