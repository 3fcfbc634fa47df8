// What runs inside each runtime (Deno, Bun, a browser page or worker, workerd, and Node as the
// baseline): the behaviour table on the built package, plus what differs between runtimes. It
// imports nothing: the host hands it the package's entries as that runtime resolved them, and
// says what it expects there, so a runtime that does more or less than the README says fails.
// Bundled by esbuild into one plain module with no imports.
import type * as Core from '../../src/index.js';
import type * as AsyncEntry from '../../src/async.js';
import type * as HierarchicalEntry from '../../src/hierarchical-entry.js';
import type * as HttpEntry from '../../src/http.js';
import { behaviourCases } from '../cases/behaviour-cases.js';
import { runCase, type CaseExpect } from '../cases/case-steps.js';
import { behaviourDrivers, keyedDriver, sharedDriver } from '../cases/local-drivers.js';

export interface Entries {
  readonly core: typeof Core;
  readonly async: typeof AsyncEntry;
  readonly hierarchical: typeof HierarchicalEntry;
  readonly http: typeof HttpEntry;
}

/** What the runtime should do where runtimes differ. */
export interface Expectations {
  /** A diagnostics_channel subscriber gets decision events (else there is no diagnostics_channel). */
  readonly events: boolean;
  /** A synchronous `consume({ block: true })` that must wait: waits, or is refused and why. */
  readonly blockingWait: 'waits' | 'no-shared-memory' | 'may-not-block';
  /** SharedArrayBuffer exists, so a SharedTokenBucket can be made (with a clock of its own at least). */
  readonly sharedMemory: boolean;
  /** `threadSharedClock` works (process.hrtime), and so a SharedTokenBucket with the default clock. */
  readonly threadClock: boolean;
}

export interface Result {
  readonly name: string;
  readonly ok: boolean;
  readonly error?: string;
}

export interface Report {
  readonly results: Result[];
  /** How long the whole run took inside the runtime, in ms. */
  readonly ms: number;
}

class Mismatch extends Error {}

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));

const expect: CaseExpect = (actual, message = 'value') => ({
  toBe(expected) {
    if (!Object.is(actual, expected)) throw new Mismatch(`${message}: expected ${show(expected)}, got ${show(actual)}`);
  },
  toBeLessThanOrEqual(expected) {
    if (!((actual as number) <= expected)) throw new Mismatch(`${message}: expected <= ${expected}, got ${show(actual)}`);
  },
  toBeGreaterThanOrEqual(expected) {
    if (!((actual as number) >= expected)) throw new Mismatch(`${message}: expected >= ${expected}, got ${show(actual)}`);
  },
});

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Mismatch(message);
}

/** Runs `fn`, which must throw a `type` whose message matches `pattern`. */
function throwsLike(what: string, fn: () => unknown, type: ErrorConstructor, pattern: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  assert(thrown !== undefined, `${what}: expected a ${type.name}, nothing was thrown`);
  assert(thrown instanceof type && pattern.test(thrown.message), `${what}: expected a ${type.name} matching ${pattern}, got ${show(thrown)}`);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type DiagnosticsChannel = {
  subscribe(name: string, onMessage: (message: unknown) => void): void;
  unsubscribe(name: string, onMessage: (message: unknown) => void): void;
};

function diagnosticsChannel(): DiagnosticsChannel | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    return proc?.getBuiltinModule?.('node:diagnostics_channel') as DiagnosticsChannel | undefined;
  } catch {
    return undefined;
  }
}

/** Checks of what differs between runtimes, by name. */
function runtimeChecks(e: Entries, expected: Expectations): Record<string, () => Promise<void> | void> {
  const { core } = e;
  return {
    'every entry loads and shares one class per export'() {
      assert(e.async.AsyncTokenBucket === core.AsyncTokenBucket, 'bucketflow/async: AsyncTokenBucket is another class');
      assert(e.async.asyncRateLimit === core.rateLimit, 'bucketflow/async: asyncRateLimit is not rateLimit');
      assert(e.hierarchical.HierarchicalTokenBucket === core.HierarchicalTokenBucket, 'bucketflow/hierarchical: another class');
      assert(e.http.RateLimitExceeded === core.RateLimitExceeded, 'bucketflow/http: RateLimitExceeded is another class');
    },

    async 'the default clock is real time: a bucket refills as time passes'() {
      const b = new core.TokenBucket({ capacity: 1, fillRate: 200 });
      assert(b.consume() && !b.consume(), 'a full bucket of 1 gives one token, then none');
      await sleep(30); // 6 tokens' worth
      assert(b.consume(), 'no token 30 ms later at 200 per second');
    },

    async [`decision events ${expected.events ? 'reach a diagnostics_channel subscriber' : 'are silent: no diagnostics_channel here'}`]() {
      const dc = diagnosticsChannel();
      assert((dc !== undefined) === expected.events, `diagnostics_channel is ${dc === undefined ? 'missing' : 'there'}`);
      const b = new core.TokenBucket({ capacity: 1, fillRate: 0 });
      if (dc === undefined) {
        assert(b.consume() && !b.consume() && !b.take().allowed, 'a bucket without events answers as usual');
        return;
      }
      const seen: unknown[] = [];
      const listener = (m: unknown) => seen.push(m);
      dc.subscribe('bucketflow:decision', listener);
      try {
        b.consume();
        b.consume();
        await new core.AsyncTokenBucket({ capacity: 2, fillRate: 1 }).acquire(2);
      } finally {
        dc.unsubscribe('bucketflow:decision', listener);
      }
      const got = seen.map((m) => {
        const { bucket, n, allowed } = m as { bucket: object; n: number; allowed: boolean };
        return `${bucket === b ? 'b' : 'other'}:${n}:${allowed}`;
      });
      assert(got.join(' ') === 'b:1:true b:1:false other:2:true', `events seen: ${got.join(' ')}`);
    },

    [`a synchronous blocking consume ${expected.blockingWait === 'waits' ? 'waits' : 'is refused with why, taking nothing'}`]() {
      const b = new core.TokenBucket({ capacity: 1, fillRate: 50 });
      assert(b.consume(1, { block: true }), 'a blocking consume that need not wait is served anywhere');
      if (expected.blockingWait === 'waits') {
        const started = performance.now();
        assert(b.consume(1, { block: true }), 'blocking consume refused');
        const waited = performance.now() - started;
        assert(waited >= 15, `waited ${waited} ms for a token that takes 20 ms`);
        return;
      }
      const why = expected.blockingWait === 'no-shared-memory' ? /cannot wait here: .*SharedArrayBuffer.*cross-origin isolated.*use acquire\(\)/
        : /cannot wait here: this thread may not block.*use acquire\(\)/;
      throwsLike('consume({ block: true })', () => b.consume(1, { block: true }), TypeError, why);
      assert(b.timeUntil(1) <= 20, `the refused wait reserved tokens: timeUntil(1) is ${b.timeUntil(1)} ms`);
      const k = new core.KeyedTokenBucket({ capacity: 1, fillRate: 50 });
      k.consume('a');
      throwsLike('KeyedTokenBucket consume({ block: true })', () => k.consume('a', 1, { block: true }), TypeError, why);
      const h = new core.HierarchicalTokenBucket({ capacity: 1, fillRate: 50 });
      h.consume();
      throwsLike('HierarchicalTokenBucket consume({ block: true })', () => h.consume(1, { block: true }), TypeError, why);
    },

    [`threadSharedClock ${expected.threadClock ? 'reads one monotonic time' : 'says it needs process.hrtime'}`]() {
      if (!expected.threadClock) {
        throwsLike('threadSharedClock.now()', () => core.threadSharedClock.now(), TypeError, /needs process\.hrtime/);
        return;
      }
      const a = core.threadSharedClock.now();
      const b = core.threadSharedClock.now();
      assert(Number.isFinite(a) && b >= a, `threadSharedClock read ${a} then ${b}`);
    },

    [`SharedTokenBucket ${expected.sharedMemory ? 'shares tokens through its handle' : 'says it needs SharedArrayBuffer'}`]() {
      if (!expected.sharedMemory) {
        const why = /needs SharedArrayBuffer.*cross-origin isolated/;
        throwsLike('new SharedTokenBucket()', () => new core.SharedTokenBucket({ capacity: 1, fillRate: 1 }), TypeError, why);
        throwsLike('new SharedTokenBucket({ clock })', () => new core.SharedTokenBucket({ capacity: 1, fillRate: 1, clock: new core.ManualClock() }), TypeError, why);
        throwsLike('SharedTokenBucket.from()', () => core.SharedTokenBucket.from(new ArrayBuffer(64) as unknown as SharedArrayBuffer), TypeError, why);
        return;
      }
      const make = () => new core.SharedTokenBucket({ capacity: 2, fillRate: 0.001 });
      if (!expected.threadClock) {
        throwsLike('new SharedTokenBucket() on the default clock', make, TypeError, /needs process\.hrtime/);
        return;
      }
      const bucket = make();
      const other = core.SharedTokenBucket.from(bucket.handle);
      assert(bucket.consume() && other.consume() && !bucket.consume(), 'two views of one buffer do not share its 2 tokens');
    },

    async 'bucketflow/http: fetchRateLimit answers, then refuses with 429'() {
      const limiter = new core.KeyedTokenBucket({ capacity: 1, fillRate: 0.5 });
      const handler = e.http.fetchRateLimit(() => new Response('ok'), { limiter, key: () => 'client' });
      const first = await handler(new Request('http://localhost/'));
      assert(first.status === 200 && (await first.text()) === 'ok', `first request: ${first.status}`);
      assert(first.headers.get('ratelimit') === '"default";r=0;t=2', `RateLimit header: ${first.headers.get('ratelimit')}`);
      const second = await handler(new Request('http://localhost/'));
      assert(second.status === 429 && second.headers.get('retry-after') === '2', `second request: ${second.status}, Retry-After ${second.headers.get('retry-after')}`);
    },

    async 'rateLimit and Semaphore'() {
      const limited = core.rateLimit({ tokensPerSecond: 0.001, capacity: 1, block: false })(async (x: number) => x * 2);
      assert((await limited(21)) === 42, 'the first call is not served');
      const refused = await limited(1).then(() => undefined, (error: unknown) => error);
      assert(refused instanceof core.RateLimitExceeded, `the second call: ${show(refused)}`);
      const sem = new core.Semaphore({ limit: 1 });
      const lease = await sem.acquire();
      assert(sem.tryAcquire() === undefined, 'a full semaphore gave a lease');
      lease.release();
      assert(sem.tryAcquire() !== undefined, 'a released slot was not given');
    },
  };
}

/** Runs the behaviour table and the runtime checks; every result is reported, none stops the run. */
export async function runAll(e: Entries, expected: Expectations): Promise<Report> {
  const started = performance.now();
  const results: Result[] = [];
  const record = async (name: string, fn: () => Promise<void> | void): Promise<void> => {
    try {
      await fn();
      results.push({ name, ok: true });
    } catch (error) {
      const text = error instanceof Error ? (error instanceof Mismatch ? error.message : `${error.name}: ${error.message}`) : String(error);
      results.push({ name, ok: false, error: text });
    }
  };
  for (const [name, check] of Object.entries(runtimeChecks(e, expected))) await record(name, check);
  const tools = { expect, RateLimitExceeded: e.core.RateLimitExceeded };
  const drivers = [...behaviourDrivers(e.core), keyedDriver(e.core), ...(expected.sharedMemory ? [sharedDriver(e.core)] : [])];
  for (const driver of drivers) {
    for (const c of behaviourCases) {
      if (c.blocking && !driver.canBlock) continue;
      const deviation = driver.deviations?.[c.name];
      await record(`${driver.name}: ${c.name}`, deviation === undefined ? () => runCase(driver, c, tools) : async () => {
        // Differs by design: it must still fail, so a change of behaviour is noticed.
        const failed = await runCase(driver, c, tools).then(() => false, () => true);
        assert(failed, `passed, but differs by design: ${deviation}`);
      });
    }
  }
  return { results, ms: performance.now() - started };
}
