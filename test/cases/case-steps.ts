// Runs one case of the behaviour table against a driver, with no test framework and no Node API,
// so that the same steps run under vitest and, bundled, under Deno, Bun, a browser and workerd.
import type { BehaviourCase, CaseBucket, CaseDriver, Outcome, Step } from './behaviour-cases.js';

/** The assertions the steps make: vitest's `expect` has them, and so has a small stand-in elsewhere. */
export type CaseExpect = (actual: unknown, message?: string) => {
  toBe(expected: unknown): void;
  toBeLessThanOrEqual(expected: number): void;
  toBeGreaterThanOrEqual(expected: number): void;
};

type RateLimitExceededClass = abstract new (...args: never[]) => Error & { readonly retryAfter: number };

/** What a run needs from its surroundings: the assertions, and the library's refusal class. */
export interface CaseTools {
  readonly expect: CaseExpect;
  readonly RateLimitExceeded: RateLimitExceededClass;
}

type Settled = { state: 'pending' } | { state: 'ok'; value: unknown } | { state: 'error'; error: unknown };

function outcomeOfWith(s: Settled, RateLimitExceeded: RateLimitExceededClass): 'pending' | Outcome | 'AbortError' | string {
  if (s.state === 'pending') return 'pending';
  if (s.state === 'ok') return typeof s.value === 'boolean' ? s.value : 'ok';
  const e = s.error;
  if (e instanceof RateLimitExceeded) return 'RateLimitExceeded';
  if (e instanceof RangeError) return 'RangeError';
  if (e instanceof TypeError) return 'TypeError';
  if (e instanceof Error && e.name === 'AbortError') return 'AbortError';
  return `unexpected error: ${String(e)}`;
}

/** A call started in the background: how it settled, and when (`performance.now()`). */
interface Started {
  settled: Settled;
  settledAt: number;
  done: Promise<void>;
  ctl?: AbortController;
}

function track(p: Promise<unknown>, ctl: AbortController | undefined): Started {
  const t: Started = { settled: { state: 'pending' }, settledAt: Infinity, done: Promise.resolve(), ctl };
  t.done = p.then((value) => {
    t.settled = { state: 'ok', value };
    t.settledAt = performance.now();
  }, (error: unknown) => {
    t.settled = { state: 'error', error };
    t.settledAt = performance.now();
  });
  return t;
}

/** One run of a case. */
interface Run {
  readonly driver: CaseDriver;
  readonly bucket: CaseBucket;
  readonly started: Map<string, Started>;
  readonly tools: CaseTools;
  /** Bucket time the steps so far have let pass, in ms. */
  caseTime: number;
  /** `performance.now()` just before the bucket was made: no bucket time passed before it. */
  readonly before: number;
  /** `performance.now()` once the driver said the bucket existed: all time after it is bucket time. */
  readonly after: number;
}

async function settle<T>(run: () => Promise<T> | T): Promise<Settled> {
  try {
    return { state: 'ok', value: await run() };
  } catch (error) {
    return { state: 'error', error };
  }
}

// Lets promise callbacks that are already due run, without letting real time pass: setImmediate
// where there is one (Node, Deno, Bun), else a message to ourselves (browsers: a zero timeout may be
// clamped to 4 ms), else a zero timeout (Cloudflare Workers, where time stands still meanwhile).
const flush: () => Promise<void> = typeof setImmediate === 'function'
  ? () => new Promise<void>((resolve) => setImmediate(resolve))
  : typeof MessageChannel === 'function'
    ? () => new Promise<void>((resolve) => {
      const { port1, port2 } = new MessageChannel();
      // The web's MessagePort (Node's typings describe their own, without onmessage).
      (port1 as unknown as { onmessage: () => void }).onmessage = () => {
        port1.close();
        resolve();
      };
      port2.postMessage(null);
    })
    : () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Real time past a case time it is slept to, for the server's clock and ours to differ by a hair. */
const PAST_MS = 20;

/** Resolves once `performance.now()` reaches `t` (a timer alone may fire a fraction of a ms early). */
async function sleepUntil(t: number): Promise<void> {
  for (let left = t - performance.now(); left > 0; left = t - performance.now()) {
    await new Promise((resolve) => setTimeout(resolve, Math.ceil(left)));
  }
}

/** Resolves when `p` does or once `performance.now()` reaches `t`, whichever comes first. */
async function untilOr(p: Promise<void>, t: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((resolve) => {
    const wake = (): void => {
      const left = t - performance.now();
      if (left > 0) timer = setTimeout(wake, Math.ceil(left));
      else resolve();
    };
    wake();
  });
  try {
    await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function runStep(run: Run, step: Step): Promise<void> {
  const { driver, bucket, started, tools: { expect, RateLimitExceeded } } = run;
  const outcomeOf = (s: Settled) => outcomeOfWith(s, RateLimitExceeded);
  if ('advance' in step) {
    run.caseTime += step.advance;
    // On real time, slept to from when the bucket existed (not from now): a late step does not
    // push the later ones back, and the case time has surely passed for the bucket.
    if (driver.realTime === undefined) await driver.advance(step.advance);
    else await sleepUntil(run.after + run.caseTime + PAST_MS);
    await flush();
  } else if ('consume' in step) {
    const opts = step.block === undefined && step.maxWait === undefined ? undefined : { block: step.block, maxWait: step.maxWait };
    const s = await settle(() => bucket.consume(step.consume, opts));
    expect(outcomeOf(s), `consume(${step.consume})`).toBe(step.expect);
  } else if ('acquire' in step) {
    const s = await settle(() => bucket.acquire(step.acquire, step.maxWait === undefined ? undefined : { maxWait: step.maxWait }));
    expect(outcomeOf(s), `acquire(${step.acquire})`).toBe(step.expect);
    if (step.retryAfter !== undefined && s.state === 'error' && s.error instanceof RateLimitExceeded) {
      if (step.retryAfter === Infinity) {
        expect(s.error.retryAfter).toBe(Infinity);
      } else {
        // On real time the wait is reported at the case time or later, and shorter by however much
        // later: by at most the time measured now.
        const late = driver.realTime === undefined ? 0 : Math.max(0, performance.now() - run.before - run.caseTime);
        const slack = driver.slackMs + 1e-6;
        expect(s.error.retryAfter, 'retryAfter').toBeGreaterThanOrEqual(step.retryAfter - late - slack);
        expect(s.error.retryAfter, 'retryAfter').toBeLessThanOrEqual(step.retryAfter + slack);
      }
    }
  } else if ('start' in step) {
    const ctl = step.abort ? new AbortController() : undefined;
    const opts = { maxWait: step.maxWait, signal: ctl?.signal };
    const p = step.start === 'acquire' ? bucket.acquire(step.n, opts) : bucket.consume(step.n, { block: true, maxWait: step.maxWait });
    started.set(step.id, track(p, ctl));
    await flush();
  } else if ('penalize' in step) {
    await bucket.penalize(step.penalize);
    await flush();
  } else if ('reward' in step) {
    await bucket.reward(step.reward);
    await flush();
  } else if ('setLimits' in step) {
    await bucket.setLimits(step.setLimits);
    await flush();
  } else if ('tokensAtMost' in step) {
    expect(await bucket.tokens(), 'tokens').toBeLessThanOrEqual(step.tokensAtMost);
  } else if ('abort' in step) {
    started.get(step.abort)!.ctl!.abort();
    await flush();
  } else {
    const call = started.get(step.check)!;
    await flush();
    const what = `background call ${step.check} at ${run.caseTime} ms`;
    if (step.expect === 'pending') {
      // On real time the check may come late: what counts is that the call had not settled by the
      // case time. Measured from before the bucket was made, a call never looks earlier than it was.
      const early = call.settled.state !== 'pending' && (driver.realTime === undefined || call.settledAt - run.before <= run.caseTime);
      expect(early ? outcomeOf(call.settled) : 'pending', what).toBe('pending');
      return;
    }
    if (driver.realTime !== undefined) {
      // Its reply or its timer may come late on a busy machine: wait up to lateMs for it.
      const deadline = run.after + run.caseTime + driver.realTime.lateMs;
      await untilOr(call.done, deadline);
      if (call.settled.state !== 'pending') {
        expect(call.settledAt - run.after - run.caseTime, `${what}: ms it settled after its case time`).toBeLessThanOrEqual(driver.realTime.lateMs);
      }
    }
    expect(outcomeOf(call.settled), what).toBe(step.expect);
  }
}

/** Runs every step of `c` on a new bucket of `driver`; throws at the first step that differs. */
export async function runCase(driver: CaseDriver, c: BehaviourCase, tools: CaseTools): Promise<void> {
  const before = performance.now();
  const bucket = await driver.create(c.limit, c.options ?? {});
  const r: Run = { driver, bucket, started: new Map(), tools, caseTime: 0, before, after: performance.now() };
  for (const step of c.steps) await runStep(r, step);
}
