// One table of bucket behaviours, run by several drivers (local buckets on a ManualClock, the
// Redis bucket on real time), so the bucket kinds cannot drift apart.
//
// On a ManualClock each step happens exactly at its case time; on real time, at it or later, by
// however long a loaded machine takes. The runner (run-cases.ts) measures real time rather than
// assume it: time that must have passed has, and a call checked as pending must not have settled
// by the check's case time. Only answers that more time would change cannot be measured around, so
// each holds for at least 1 s past its step here: a refused consume stays refused, a refused wait
// stays over its maxWait, and a call that must settle early (at once, or thanks to a refund) would
// otherwise settle more than 1 s later. The rates are picked for that, not for realism.

export interface CaseLimit {
  capacity: number;
  fillRate: number;
  initialTokens?: number;
}

/** The slice of a bucket the table talks to; every driver adapts its bucket to it. */
export interface CaseBucket {
  consume(n?: number, options?: { block?: boolean; maxWait?: number }): Promise<boolean>;
  acquire(n?: number, options?: { maxWait?: number; signal?: AbortSignal }): Promise<void>;
  /** The level now (the lowest over the limits; below 0 while waiters hold reservations). */
  tokens(): number | Promise<number>;
  /** Takes `n` tokens at once, even below 0. */
  penalize(n: number): void | Promise<void>;
  /** Gives `n` tokens back, never above capacity. */
  reward(n: number): void | Promise<void>;
  /** Changes the limit (a driver with extra limits keeps them); resolves once it applies. */
  setLimits(limit: CaseLimit): void | Promise<void>;
}

interface CaseDriverBase {
  readonly name: string;
  /** Whether `consume({ block: true })` can wait while the test moves time (false for a sync bucket). */
  readonly canBlock: boolean;
  /**
   * Makes a case's bucket. On real time it resolves once the bucket exists where its time is kept
   * (Redis: one round trip after it was made), so that time measured from then on has passed for it.
   */
  create(limit: CaseLimit, options: CaseOptions): CaseBucket | Promise<CaseBucket>;
  /**
   * How far a reported wait (`retryAfter`) may be from the exact one, in ms, besides the time
   * measured to have passed on real time (0 for a ManualClock).
   */
  readonly slackMs: number;
  /**
   * Cases this kind answers differently by design, by case name, with the documented reason
   * (e.g. a keyed bucket with `initialTokens < capacity` starts over once full). They still run
   * and must fail, so an implementation that changes is noticed.
   */
  readonly deviations?: Readonly<Record<string, string>>;
}

/** A driver whose buckets run on a ManualClock: bucket time passes only when told to. */
export interface ManualCaseDriver extends CaseDriverBase {
  /** Moves the bucket's ManualClock on by `ms`. */
  advance(ms: number): Promise<void>;
  readonly realTime?: undefined;
}

/** A driver whose buckets run on real time (Redis: the server's clock), passing during every step. */
export interface RealTimeCaseDriver extends CaseDriverBase {
  readonly advance?: undefined;
  readonly realTime: {
    /** How long after its check's case time a background call may settle (a late reply or timer), in ms. */
    readonly lateMs: number;
  };
}

export type CaseDriver = ManualCaseDriver | RealTimeCaseDriver;

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
  /** penalize or reward now, and wait until it is done. */
  | { penalize: number }
  | { reward: number }
  /** change the limit now, and wait until it applies. */
  | { setLimits: CaseLimit }
  /** the level now is at most this (time only raises it, so this holds on real time too). */
  | { tokensAtMost: number }
  /** check a background call: not settled yet (by this case time), or what it settled with. */
  | { check: string; expect: 'pending' | Outcome | 'AbortError' };

/** Options of the bucket under test besides its limit. */
export interface CaseOptions {
  readonly maxWaiting?: number;
}

export interface BehaviourCase {
  readonly name: string;
  readonly limit: CaseLimit;
  /** Passed to the bucket (every driver must pass them on). */
  readonly options?: CaseOptions;
  /** Needs a driver that can block (background `consume` with `block`). */
  readonly blocking?: boolean;
  readonly steps: readonly Step[];
}

export const behaviourCases: readonly BehaviourCase[] = [
  {
    name: 'a new bucket starts full and gives out exactly its capacity',
    limit: { capacity: 10, fillRate: 0.1 },
    steps: [{ consume: 10, expect: true }, { consume: 1, expect: false }],
  },
  {
    name: 'consume takes one token by default',
    limit: { capacity: 3, fillRate: 0.1 },
    steps: [{ consume: 1, expect: true }, { consume: 1, expect: true }, { consume: 1, expect: true }, { consume: 1, expect: false }],
  },
  {
    name: 'initialTokens sets the starting level',
    limit: { capacity: 10, fillRate: 0.1, initialTokens: 3 },
    steps: [{ consume: 4, expect: false }, { consume: 3, expect: true }, { consume: 1, expect: false }],
  },
  {
    name: 'a refused consume takes nothing',
    limit: { capacity: 5, fillRate: 0.1 },
    steps: [{ consume: 3, expect: true }, { consume: 3, expect: false }, { consume: 2, expect: true }],
  },
  {
    name: 'tokens refill at fillRate per second',
    limit: { capacity: 10, fillRate: 2, initialTokens: 0 },
    steps: [{ consume: 2, expect: false }, { advance: 1500 }, { consume: 3, expect: true }, { consume: 2, expect: false }],
  },
  {
    name: 'refill stops at capacity',
    limit: { capacity: 1, fillRate: 1, initialTokens: 0 },
    steps: [{ advance: 2000 }, { consume: 1, expect: true }, { consume: 1, expect: false }],
  },
  {
    name: 'fractional tokens add up',
    limit: { capacity: 1, fillRate: 0.01 },
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
    limit: { capacity: 2, fillRate: 0.5, initialTokens: 0 },
    steps: [{ acquire: 1, maxWait: 0, expect: 'RateLimitExceeded', retryAfter: 2000 }],
  },
  {
    name: 'acquire refuses at once when the wait exceeds maxWait, taking nothing',
    limit: { capacity: 10, fillRate: 2, initialTokens: 0 },
    steps: [
      { acquire: 5, maxWait: 100, expect: 'RateLimitExceeded', retryAfter: 2500 },
      { advance: 600 },
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
    limit: { capacity: 10, fillRate: 5, initialTokens: 0 },
    steps: [
      { start: 'acquire', id: 'big', n: 5 },
      { start: 'acquire', id: 'small', n: 1 },
      { advance: 400 },
      { consume: 1, expect: false },
      { check: 'small', expect: 'pending' },
      { check: 'big', expect: 'pending' },
      { advance: 800 },
      { check: 'big', expect: 'ok' },
      { check: 'small', expect: 'ok' },
    ],
  },
  {
    name: 'aborting a waiter rejects it with the reason and gives its tokens to those behind',
    limit: { capacity: 20, fillRate: 10, initialTokens: 0 },
    steps: [
      { start: 'acquire', id: 'big', n: 18, abort: true },
      { start: 'acquire', id: 'next', n: 2 },
      { advance: 100 },
      { abort: 'big' },
      { check: 'big', expect: 'AbortError' },
      { advance: 200 },
      { check: 'next', expect: 'ok' }, // due at 200 ms with big's tokens back, at 2000 ms without
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
    limit: { capacity: 5, fillRate: 2, initialTokens: 0 },
    steps: [{ consume: 3, block: true, maxWait: 100, expect: false }, { advance: 600 }, { consume: 1, expect: true }],
  },
  {
    name: 'maxWait is ignored when not blocking',
    limit: { capacity: 5, fillRate: 0.5, initialTokens: 0 },
    steps: [{ consume: 1, maxWait: 10_000, expect: false }],
  },
  {
    // BucketFlow's example fills at 2/s (test/bucketflow-port.test.ts runs it as written); here the
    // refusal must hold for a second of real time.
    name: 'BucketFlow README: a 10-token bucket gives 1, then 5, refuses 5, gives the 4 left',
    limit: { capacity: 10, fillRate: 0.2 },
    steps: [{ consume: 1, expect: true }, { consume: 5, expect: true }, { consume: 5, expect: false }, { consume: 4, expect: true }],
  },
  {
    name: 'BucketFlow boundary: a tiny capacity and rate hand out fractions',
    limit: { capacity: 0.1, fillRate: 0.01 },
    steps: [{ consume: 0.05, expect: true }, { consume: 0.05, expect: true }, { consume: 0.05, expect: false }],
  },
  {
    name: 'a fractional fill rate refills in fractions',
    limit: { capacity: 3, fillRate: 0.8, initialTokens: 0 },
    steps: [{ advance: 1500 }, { consume: 1, expect: true }, { consume: 1, expect: false }],
  },
  {
    name: 'acquire takes tokens that are there at once',
    limit: { capacity: 5, fillRate: 0.1 },
    steps: [{ acquire: 5, expect: 'ok' }, { consume: 1, expect: false }, { acquire: 0, expect: 'ok' }],
  },
  {
    name: 'consume(0) succeeds while a waiter is queued, consume(1) does not',
    limit: { capacity: 10, fillRate: 5, initialTokens: 0 },
    steps: [
      { start: 'acquire', id: 'w', n: 5 },
      { consume: 0, expect: true },
      { consume: 1, expect: false },
      { advance: 1000 },
      { check: 'w', expect: 'ok' },
    ],
  },
  {
    name: 'a waiting acquire whose wait exceeds maxWait is refused at once, taking nothing',
    limit: { capacity: 10, fillRate: 2, initialTokens: 0 },
    steps: [
      { start: 'acquire', id: 'a', n: 7, maxWait: 2000 },
      { advance: 50 }, // a round trip for a remote bucket; refused after maxWait it would settle at 2000 ms
      { check: 'a', expect: 'RateLimitExceeded' },
      { advance: 550 },
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
    name: 'a waiter holds its tokens from the moment it queues: the level reads below 0 by what it is owed',
    limit: { capacity: 10, fillRate: 0.1, initialTokens: 0 },
    steps: [
      { start: 'acquire', id: 'a', n: 2, abort: true },
      { tokensAtMost: -1.5 },
      { start: 'acquire', id: 'b', n: 1, abort: true },
      { tokensAtMost: -2.5 },
      { consume: 0.5, expect: false },
      { abort: 'a' },
      { check: 'a', expect: 'AbortError' },
      { abort: 'b' },
      { check: 'b', expect: 'AbortError' },
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
    limit: { capacity: 5, fillRate: 2, initialTokens: 0 },
    blocking: true,
    steps: [
      { start: 'consume', id: 'c', n: 2, maxWait: 2000 },
      { advance: 500 },
      { check: 'c', expect: 'pending' },
      { advance: 500 },
      { check: 'c', expect: true },
      { consume: 2, expect: false }, // the 2 earned were taken
    ],
  },
  {
    name: 'blocking consume beyond maxWait resolves false at once',
    limit: { capacity: 10, fillRate: 2, initialTokens: 0 },
    blocking: true,
    // Refused after maxWait it would settle at 2000 ms.
    steps: [{ start: 'consume', id: 'c', n: 7, maxWait: 2000 }, { advance: 50 }, { check: 'c', expect: false }],
  },
  {
    name: 'past maxWaiting a request that would wait is refused at once; once the waiter is served, one may wait again',
    limit: { capacity: 2, fillRate: 0.5, initialTokens: 0 },
    options: { maxWaiting: 1 },
    steps: [
      { start: 'acquire', id: 'a', n: 1, maxWait: 10_000 },
      // It would wait for a's token and its own: 2 tokens at 0.5 per second.
      { acquire: 1, maxWait: 10_000, expect: 'RateLimitExceeded', retryAfter: 4000 },
      { tokensAtMost: -0.9 }, // the refused request reserved nothing
      { advance: 2000 },
      { check: 'a', expect: 'ok' },
      { start: 'acquire', id: 'b', n: 1, maxWait: 10_000 },
      { advance: 1000 },
      { check: 'b', expect: 'pending' },
      { advance: 1000 },
      { check: 'b', expect: 'ok' },
    ],
  },
  {
    name: 'penalize takes tokens below 0, and nothing passes until time has paid the debt',
    limit: { capacity: 4, fillRate: 2 },
    steps: [
      { penalize: 6 },
      { tokensAtMost: -1.9 },
      { consume: 1, expect: false },
      // From -2 to 1 token at 2 per second.
      { acquire: 1, maxWait: 1000, expect: 'RateLimitExceeded', retryAfter: 1500 },
      { advance: 1500 },
      // A wait, not a consume: on real time the penalty may have landed a little after its case
      // time, and the debt is paid back from then.
      { acquire: 1, maxWait: 1000, expect: 'ok' },
    ],
  },
  {
    name: 'reward gives tokens back, never above capacity, and serves a waiter that now has its tokens',
    // Starts full: a full bucket and a new one are alike (keyed and Redis buckets forget full ones).
    limit: { capacity: 3, fillRate: 0.1 },
    steps: [
      { consume: 3, expect: true },
      { start: 'acquire', id: 'a', n: 2 },
      { advance: 100 },
      { check: 'a', expect: 'pending' },
      { reward: 2 },
      { check: 'a', expect: 'ok' },
      { reward: 10 },
      { consume: 3, expect: true },
      { consume: 1, expect: false },
    ],
  },
  {
    name: 'setLimits: tokens earned before count at the old rate, the new rate applies from then on',
    limit: { capacity: 10, fillRate: 1, initialTokens: 0 },
    steps: [
      { advance: 1000 }, // 1 token at the old rate
      { setLimits: { capacity: 10, fillRate: 0.25 } },
      { consume: 2, expect: false },
      { advance: 1000 }, // 1.25: the old rate would have made it 2
      { consume: 1.6, expect: false },
      { advance: 1000 }, // 1.5, of which 1 was earned at the old rate (0.75 had the new rate counted from the start)
      { consume: 1.5, expect: true },
      { consume: 1, expect: false },
    ],
  },
  {
    name: 'setLimits: a level above a lowered capacity is cut to it',
    limit: { capacity: 10, fillRate: 0.1 },
    steps: [
      { setLimits: { capacity: 4, fillRate: 0.1 } },
      { consume: 5, expect: false },
      { consume: 4, expect: true },
      { consume: 1, expect: false },
    ],
  },
  {
    name: 'setLimits re-times a queued waiter: a faster rate serves it sooner',
    limit: { capacity: 4, fillRate: 0.5, initialTokens: 0 },
    steps: [
      { start: 'acquire', id: 'a', n: 2 }, // 4000 ms at the old rate
      { advance: 1000 }, // 0.5 earned
      { check: 'a', expect: 'pending' },
      { setLimits: { capacity: 4, fillRate: 2 } }, // the other 1.5 in 750 ms
      { advance: 1000 },
      { check: 'a', expect: 'ok' },
    ],
  },
  {
    name: 'setLimits re-times a queued waiter: a slower rate serves it later, never before its tokens are earned',
    limit: { capacity: 4, fillRate: 2, initialTokens: 0 },
    steps: [
      { start: 'acquire', id: 'a', n: 2 }, // 1000 ms at the old rate
      { advance: 500 }, // 1 earned
      { setLimits: { capacity: 4, fillRate: 0.5 } }, // the other 1 in 2000 ms
      { advance: 1000 },
      { check: 'a', expect: 'pending' },
      { advance: 1000 },
      { check: 'a', expect: 'ok' },
    ],
  },
  {
    name: 'maxWaiting 0: a request that need not wait passes, one that would wait is refused',
    limit: { capacity: 2, fillRate: 0.5 },
    options: { maxWaiting: 0 },
    steps: [
      { acquire: 2, expect: 'ok' },
      { acquire: 1, maxWait: 10_000, expect: 'RateLimitExceeded', retryAfter: 2000 },
      { advance: 2000 },
      { acquire: 1, expect: 'ok' },
    ],
  },
];
