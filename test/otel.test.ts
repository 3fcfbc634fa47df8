// bucketflow/otel: the events of real limiters turned into OpenTelemetry metrics, read back from
// the SDK in memory (a reader collected by hand), with the instrument names, units and attributes
// the README promises; stop() really stops; and no other entry loads @opentelemetry/api.

import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DiagLogLevel, diag, metrics } from '@opentelemetry/api';
import { DataPointType, MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { HierarchicalTokenBucket, KeyedTokenBucket, ManualClock, RateLimitExceeded, Semaphore, TokenBucket } from 'bucketflow';
import { instrument, type InstrumentOptions, type Instrumentation } from 'bucketflow/otel';
import { RedisTokenBucket } from 'bucketflow/redis';

/** A reader the test collects from when it wants (no timer, no exporter). */
class Reader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

let running: Instrumentation[] = [];
afterEach(() => {
  for (const r of running) r.stop();
  running = [];
});

/** `instrument()` on a meter provider of its own, and a way to read what it recorded. */
function setup(options: InstrumentOptions = {}) {
  const reader = new Reader();
  const provider = new MeterProvider({ readers: [reader] });
  const instrumentation = instrument({ meterProvider: provider, ...options });
  running.push(instrumentation);
  const read = async (): Promise<Map<string, MetricData>> => {
    const { resourceMetrics, errors } = await reader.collect();
    expect(errors).toEqual([]);
    return new Map(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m]));
  };
  return { instrumentation, read, provider };
}

/** The value of each data point of a sum (counter, up-down counter), by its attributes as JSON. */
function sums(metric: MetricData | undefined): Record<string, number> {
  if (metric === undefined) return {};
  expect(metric.dataPointType).toBe(DataPointType.SUM);
  return Object.fromEntries(metric.dataPoints.map((p) => [JSON.stringify(p.attributes), p.value as number]));
}

const attrs = (a: Record<string, string>): string => JSON.stringify(a);

describe('bucketflow/otel instruments', () => {
  it('bucketflow.decisions counts decisions by outcome and limiter, never by key', async () => {
    const { read } = setup();
    const clock = new ManualClock();
    const bucket = new TokenBucket({ capacity: 2, fillRate: 1, clock });
    const perUser = new KeyedTokenBucket({ capacity: 2, fillRate: 1, clock });
    for (let i = 0; i < 3; i++) bucket.consume();
    for (let i = 0; i < 3; i++) perUser.consume('alice');
    perUser.take('bob');

    const m = await read();
    const decisions = m.get('bucketflow.decisions')!;
    expect(decisions.descriptor).toMatchObject({ unit: '{decision}', type: 'COUNTER' });
    expect(sums(decisions)).toEqual({
      [attrs({ 'bucketflow.outcome': 'allowed', 'bucketflow.limiter': 'TokenBucket' })]: 2,
      [attrs({ 'bucketflow.outcome': 'refused', 'bucketflow.limiter': 'TokenBucket' })]: 1,
      [attrs({ 'bucketflow.outcome': 'allowed', 'bucketflow.limiter': 'KeyedTokenBucket' })]: 3,
      [attrs({ 'bucketflow.outcome': 'refused', 'bucketflow.limiter': 'KeyedTokenBucket' })]: 1,
    });
  });

  it('bucketflow.wait records the ms of requests that could wait, served or refused', async () => {
    const { read } = setup();
    const clock = new ManualClock();
    const bucket = new TokenBucket({ capacity: 2, fillRate: 1, initialTokens: 0, clock });
    const served = bucket.acquire(1);
    clock.advance(1000);
    await served;
    await expect(bucket.acquire(2, { maxWait: 10 })).rejects.toBeInstanceOf(RateLimitExceeded);
    bucket.consume(); // no wait was possible: counted, not timed

    const m = await read();
    const wait = m.get('bucketflow.wait')!;
    expect(wait.descriptor).toMatchObject({ unit: 'ms', type: 'HISTOGRAM' });
    expect(wait.dataPointType).toBe(DataPointType.HISTOGRAM);
    const byOutcome = Object.fromEntries(wait.dataPoints.map((p) => {
      const h = p.value as { count: number; sum?: number };
      return [p.attributes['bucketflow.outcome'], { count: h.count, sum: h.sum, limiter: p.attributes['bucketflow.limiter'] }];
    }));
    expect(byOutcome).toEqual({
      allowed: { count: 1, sum: 1000, limiter: 'TokenBucket' },
      refused: { count: 1, sum: 0, limiter: 'TokenBucket' },
    });
    expect(Object.values(sums(m.get('bucketflow.decisions'))).reduce((a, b) => a + b)).toBe(3);
  });

  it('bucketflow.waiting and bucketflow.keys read the limiters now, summed per label', async () => {
    const clock = new ManualClock();
    const idle = new KeyedTokenBucket({ capacity: 1, fillRate: 1, clock }); // decides nothing: reported because it is given
    const names = new Map<object, string>([[idle, 'idle']]);
    const { read } = setup({ limiters: [idle], describeBucket: (b) => names.get(b) ?? b.constructor.name });
    const perUser = new KeyedTokenBucket({ capacity: 1, fillRate: 1, clock });
    const sem = new Semaphore({ limit: 1, clock });
    const bucket = new TokenBucket({ capacity: 1, fillRate: 1, clock });

    for (const user of ['alice', 'bob', 'carol']) perUser.consume(user);
    const aliceWaits = perUser.acquire('alice');
    const lease = sem.tryAcquire()!;
    const queued = [sem.acquire(), sem.acquire()];
    bucket.consume();
    const bucketWaits = [bucket.acquire(), bucket.acquire()];

    let m = await read();
    expect(m.get('bucketflow.waiting')!.descriptor).toMatchObject({ unit: '{request}', type: 'OBSERVABLE_UP_DOWN_COUNTER' });
    expect(m.get('bucketflow.keys')!.descriptor).toMatchObject({ unit: '{key}', type: 'OBSERVABLE_UP_DOWN_COUNTER' });
    expect(sums(m.get('bucketflow.waiting'))).toEqual({
      [attrs({ 'bucketflow.limiter': 'idle' })]: 0,
      [attrs({ 'bucketflow.limiter': 'KeyedTokenBucket' })]: 1,
      [attrs({ 'bucketflow.limiter': 'Semaphore' })]: 2,
      [attrs({ 'bucketflow.limiter': 'TokenBucket' })]: 2,
    });
    expect(sums(m.get('bucketflow.keys'))).toEqual({
      [attrs({ 'bucketflow.limiter': 'idle' })]: 0,
      [attrs({ 'bucketflow.limiter': 'KeyedTokenBucket' })]: 3,
    });

    clock.advance(2000);
    await Promise.all([aliceWaits, ...bucketWaits]);
    lease.release();
    (await queued[0]!).release();
    (await queued[1]!).release();
    m = await read();
    expect(sums(m.get('bucketflow.waiting'))).toEqual({
      [attrs({ 'bucketflow.limiter': 'idle' })]: 0,
      [attrs({ 'bucketflow.limiter': 'KeyedTokenBucket' })]: 0,
      [attrs({ 'bucketflow.limiter': 'Semaphore' })]: 0,
      [attrs({ 'bucketflow.limiter': 'TokenBucket' })]: 0,
    });
  });

  it('does not keep a limiter it has seen alive (no leak when limiters come and go)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { read } = setup();
    let perUser: KeyedTokenBucket | undefined = new KeyedTokenBucket({ capacity: 1, fillRate: 1, clock: new ManualClock() });
    perUser.consume('alice');
    expect(sums((await read()).get('bucketflow.keys'))).toEqual({ [attrs({ 'bucketflow.limiter': 'KeyedTokenBucket' })]: 1 });
    const gone = new WeakRef(perUser);
    perUser = undefined;
    for (let i = 0; i < 10 && gone.deref() !== undefined; i++) {
      await new Promise((resolve) => setImmediate(resolve)); // a WeakRef holds its target until the job ends
      gc();
    }
    expect(gone.deref()).toBeUndefined();
    await read(); // and reading the instruments after it went is fine
  });

  it('labels: class name with key, prefix or name by default; describeBucket asked once per limiter', async () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ name: 'api', capacity: 5, fillRate: 1, clock });
    const anonymous = new HierarchicalTokenBucket({ capacity: 5, fillRate: 1, clock });
    const first = setup();
    root.consume(1);
    anonymous.consume(1);
    expect(Object.keys(sums((await first.read()).get('bucketflow.decisions')))).toEqual([
      attrs({ 'bucketflow.outcome': 'allowed', 'bucketflow.limiter': 'HierarchicalTokenBucket(api)' }),
      attrs({ 'bucketflow.outcome': 'allowed', 'bucketflow.limiter': 'HierarchicalTokenBucket' }),
    ]);
    first.instrumentation.stop();

    const asked: object[] = [];
    const custom = setup({ describeBucket: (b) => (asked.push(b), 'search') });
    for (let i = 0; i < 3; i++) root.consume(1);
    expect(asked).toEqual([root]);
    expect(sums((await custom.read()).get('bucketflow.decisions'))).toEqual({
      [attrs({ 'bucketflow.outcome': 'allowed', 'bucketflow.limiter': 'search' })]: 3,
    });
  });

  it('a describeBucket that throws is reported on the diag logger, and the default label used', async () => {
    const errors: string[] = [];
    const log = () => {};
    diag.setLogger({ error: (m: string) => errors.push(m), warn: log, info: log, debug: log, verbose: log }, DiagLogLevel.ERROR);
    try {
      const { read } = setup({ describeBucket: () => { throw new Error('no label'); } });
      new TokenBucket({ capacity: 1, fillRate: 1, clock: new ManualClock() }).consume();
      expect(sums((await read()).get('bucketflow.decisions'))).toEqual({
        [attrs({ 'bucketflow.outcome': 'allowed', 'bucketflow.limiter': 'TokenBucket' })]: 1,
      });
      expect(errors).toEqual(['bucketflow/otel: describeBucket threw; using the default label']);
    } finally {
      diag.disable();
    }
  });

  it('Redis failures: bucketflow.redis.errors, bucketflow.fallbacks by policy, bucketflow.circuit.transitions', async () => {
    // A port nobody listens on, and a client that fails a command at once instead of queueing it.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => {});
    try {
      const { read } = setup();
      const denying = new RedisTokenBucket({ redis, key: 'otel:deny', capacity: 5, fillRate: 1, onRedisError: 'deny', circuitBreaker: { failures: 2, resetAfter: 60_000 } });
      const local = new RedisTokenBucket({ redis, key: 'otel:local', capacity: 5, fillRate: 1, onRedisError: new TokenBucket({ capacity: 1, fillRate: 0 }) });
      for (let i = 0; i < 3; i++) expect(await denying.consume()).toBe(false); // the third is not sent: the circuit is open
      expect([await local.consume(), await local.consume()]).toEqual([true, false]);

      const m = await read();
      expect(m.get('bucketflow.redis.errors')!.descriptor).toMatchObject({ unit: '{error}', type: 'COUNTER' });
      expect(sums(m.get('bucketflow.redis.errors'))).toEqual({
        [attrs({ 'bucketflow.limiter': 'RedisTokenBucket(otel:deny)', 'error.type': 'Error' })]: 2,
        [attrs({ 'bucketflow.limiter': 'RedisTokenBucket(otel:local)', 'error.type': 'Error' })]: 2,
      });
      expect(m.get('bucketflow.fallbacks')!.descriptor).toMatchObject({ unit: '{request}', type: 'COUNTER' });
      expect(sums(m.get('bucketflow.fallbacks'))).toEqual({
        [attrs({ 'bucketflow.limiter': 'RedisTokenBucket(otel:deny)', 'bucketflow.policy': 'deny' })]: 3,
        [attrs({ 'bucketflow.limiter': 'RedisTokenBucket(otel:local)', 'bucketflow.policy': 'local' })]: 2,
      });
      expect(m.get('bucketflow.circuit.transitions')!.descriptor).toMatchObject({ unit: '{transition}', type: 'COUNTER' });
      expect(sums(m.get('bucketflow.circuit.transitions'))).toEqual({
        [attrs({ 'bucketflow.limiter': 'RedisTokenBucket(otel:deny)', 'bucketflow.circuit.state': 'open' })]: 1,
      });
      // The Redis limiters' own decisions, and the local fallback's (a limiter of its own).
      expect(sums(m.get('bucketflow.decisions'))).toEqual({
        [attrs({ 'bucketflow.outcome': 'refused', 'bucketflow.limiter': 'RedisTokenBucket(otel:deny)' })]: 3,
        [attrs({ 'bucketflow.outcome': 'allowed', 'bucketflow.limiter': 'RedisTokenBucket(otel:local)' })]: 1,
        [attrs({ 'bucketflow.outcome': 'refused', 'bucketflow.limiter': 'RedisTokenBucket(otel:local)' })]: 1,
        [attrs({ 'bucketflow.outcome': 'allowed', 'bucketflow.limiter': 'TokenBucket' })]: 1,
        [attrs({ 'bucketflow.outcome': 'refused', 'bucketflow.limiter': 'TokenBucket' })]: 1,
      });
    } finally {
      redis.disconnect();
    }
  });
});

describe('instrument()', () => {
  it('stop() unsubscribes and stops observing: nothing new is recorded; a second stop() does nothing', async () => {
    const { instrumentation, read } = setup();
    const clock = new ManualClock();
    const perUser = new KeyedTokenBucket({ capacity: 1, fillRate: 1, clock });
    perUser.consume('alice');
    const before = await read();
    expect(sums(before.get('bucketflow.decisions'))).toEqual({
      [attrs({ 'bucketflow.outcome': 'allowed', 'bucketflow.limiter': 'KeyedTokenBucket' })]: 1,
    });
    expect(sums(before.get('bucketflow.keys'))).toEqual({ [attrs({ 'bucketflow.limiter': 'KeyedTokenBucket' })]: 1 });

    instrumentation.stop();
    instrumentation.stop();
    perUser.consume('alice');
    perUser.consume('bob');
    const waited = perUser.acquire('carol');
    clock.advance(1);
    await waited;
    const after = await read();
    expect(sums(after.get('bucketflow.decisions'))).toEqual(sums(before.get('bucketflow.decisions')));
    expect(after.get('bucketflow.wait')?.dataPoints ?? []).toEqual([]);
    // Not observed any more: the (cumulative) reader repeats the last value; observed, it would read 3 keys.
    expect(sums(after.get('bucketflow.keys'))).toEqual(sums(before.get('bucketflow.keys')));
  });

  it('uses the global meter provider by default, and a given meter as it is', async () => {
    const reader = new Reader();
    const provider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(provider);
    try {
      running.push(instrument());
      new TokenBucket({ capacity: 1, fillRate: 1 }).consume();
      const { resourceMetrics } = await reader.collect();
      // Instruments with nothing recorded are left out: no wait, no keyed limiter.
      expect(resourceMetrics.scopeMetrics.map((s) => [s.scope.name, s.metrics.map((x) => x.descriptor.name)])).toEqual([
        ['bucketflow', ['bucketflow.decisions', 'bucketflow.waiting']],
      ]);
    } finally {
      metrics.disable();
    }

    const other = new Reader();
    const meter = new MeterProvider({ readers: [other] }).getMeter('my-app');
    running.push(instrument({ meter }));
    new TokenBucket({ capacity: 1, fillRate: 1 }).consume();
    const { resourceMetrics } = await other.collect();
    expect(resourceMetrics.scopeMetrics.map((s) => s.scope.name)).toEqual(['my-app']);
  });

  it('rejects options it cannot use with a TypeError naming them, before subscribing', () => {
    const provider = new MeterProvider();
    const meter = provider.getMeter('x');
    expect(() => instrument({ meter, meterProvider: provider })).toThrow(new TypeError('instrument options: pass either meter, or meterProvider and/or name (the meter to make), not both'));
    expect(() => instrument({ meterProvider: provider, describeBucket: 'TokenBucket' as never })).toThrow(new TypeError('describeBucket must be a function, got "TokenBucket"'));
    expect(() => instrument({ meterProvider: provider, limiters: [null] as never })).toThrow(new TypeError('limiters must be an array of limiter objects, got an array'));
    expect(() => instrument({ meterProvider: provider, meterName: 'x' } as never)).toThrow(/unknown option "meterName"/);
    expect(() => instrument({ meterProvider: {} as never })).toThrow(new TypeError('meterProvider must be an OpenTelemetry MeterProvider, got an object'));
    expect(() => instrument('on' as never)).toThrow(TypeError);
  });
});

describe('@opentelemetry/api is loaded by bucketflow/otel only', () => {
  // A child process per entry, importing its source with a hook that fails the import of any
  // @opentelemetry/* package: the otel entry itself must fail it, or the check proves nothing.
  const run = (entry: string) => promisify(execFile)(process.execPath, [
    '--import', 'tsx',
    '--input-type=module',
    '-e',
    `import { register } from 'node:module';
     register(${JSON.stringify(new URL('./fixtures/forbid-otel-hooks.mjs', import.meta.url).href)});
     await import(${JSON.stringify(new URL(`../src/${entry}`, import.meta.url).href)});
     console.log('CLEAN');`,
  ], { timeout: 30_000 });

  it.each(['index.ts', 'async.ts', 'hierarchical-entry.ts', 'redis.ts', 'http.ts'])('%s does not load it', async (entry) => {
    const { stdout } = await run(entry);
    expect(stdout.trim()).toBe('CLEAN');
  }, 30_000);

  it('otel.ts does (the check can fail)', async () => {
    await expect(run('otel.ts')).rejects.toThrow(/@opentelemetry\/api was loaded, by .*\/src\/otel\/metrics\.ts/);
  }, 30_000);
});
