import { describe, expect, it } from 'vitest';
import { RateLimitExceeded } from '../../src/index.js';
import { behaviourCases, type CaseBucket, type CaseDriver, type Outcome, type Step } from './behaviour-cases.js';

type Settled = { state: 'pending' } | { state: 'ok'; value: unknown } | { state: 'error'; error: unknown };

function outcomeOf(s: Settled): 'pending' | Outcome | 'AbortError' | string {
  if (s.state === 'pending') return 'pending';
  if (s.state === 'ok') return typeof s.value === 'boolean' ? s.value : 'ok';
  const e = s.error;
  if (e instanceof RateLimitExceeded) return 'RateLimitExceeded';
  if (e instanceof RangeError) return 'RangeError';
  if (e instanceof TypeError) return 'TypeError';
  if (e instanceof Error && e.name === 'AbortError') return 'AbortError';
  return `unexpected error: ${String(e)}`;
}

function track(p: Promise<unknown>): { settled: Settled; ctl?: AbortController } {
  const t: { settled: Settled; ctl?: AbortController } = { settled: { state: 'pending' } };
  p.then((value) => (t.settled = { state: 'ok', value }), (error: unknown) => (t.settled = { state: 'error', error }));
  return t;
}

async function settle<T>(run: () => Promise<T> | T): Promise<Settled> {
  try {
    return { state: 'ok', value: await run() };
  } catch (error) {
    return { state: 'error', error };
  }
}

// Lets promise callbacks that are already due run, without letting real time pass.
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

async function runStep(driver: CaseDriver, bucket: CaseBucket, step: Step, started: Map<string, { settled: Settled; ctl?: AbortController }>) {
  if ('advance' in step) {
    await driver.advance(step.advance);
    await flush();
  } else if ('consume' in step) {
    const opts = step.block === undefined && step.maxWait === undefined ? undefined : { block: step.block, maxWait: step.maxWait };
    const s = await settle(() => bucket.consume(step.consume, opts));
    expect(outcomeOf(s), `consume(${step.consume})`).toBe(step.expect);
  } else if ('acquire' in step) {
    const s = await settle(() => bucket.acquire(step.acquire, step.maxWait === undefined ? undefined : { maxWait: step.maxWait }));
    expect(outcomeOf(s), `acquire(${step.acquire})`).toBe(step.expect);
    if (step.retryAfter !== undefined && s.state === 'error' && s.error instanceof RateLimitExceeded) {
      if (step.retryAfter === Infinity) expect(s.error.retryAfter).toBe(Infinity);
      else expect(Math.abs(s.error.retryAfter - step.retryAfter)).toBeLessThanOrEqual(driver.slackMs + 1e-6);
    }
  } else if ('start' in step) {
    const ctl = step.abort ? new AbortController() : undefined;
    const opts = { maxWait: step.maxWait, signal: ctl?.signal };
    const p = step.start === 'acquire' ? bucket.acquire(step.n, opts) : bucket.consume(step.n, { block: true, maxWait: step.maxWait });
    const tracked: { settled: Settled; ctl?: AbortController } = track(p);
    tracked.ctl = ctl;
    started.set(step.id, tracked);
    await flush();
  } else if ('abort' in step) {
    started.get(step.abort)!.ctl!.abort();
    await flush();
  } else {
    await flush();
    expect(outcomeOf(started.get(step.check)!.settled), `background call ${step.check}`).toBe(step.expect);
  }
}

/** Defines one test per case of the shared behaviour table for `driver`. */
export function runBehaviourCases(driver: CaseDriver): void {
  describe(`behaviour cases: ${driver.name}`, () => {
    for (const c of behaviourCases) {
      if (c.blocking && !driver.canBlock) continue; // the sync driver has its own blocking tests
      const run = async () => {
        const bucket = await driver.create(c.limit);
        const started = new Map<string, { settled: Settled; ctl?: AbortController }>();
        for (const step of c.steps) await runStep(driver, bucket, step, started);
      };
      const deviation = driver.deviations?.[c.name];
      if (deviation === undefined) it(c.name, run);
      else it(`${c.name} — differs by design: ${deviation}`, () => expect(run()).rejects.toThrow());
    }
  });
}
