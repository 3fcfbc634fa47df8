// OpenTelemetry metrics from the events every limiter publishes on node:diagnostics_channel. Only
// @opentelemetry/api is used: the application picks (or not) an SDK and exporters, and with no SDK
// registered every instrument is a no-op. No limiter knows this module exists: it only listens.

import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  diag,
  metrics,
  type Attributes,
  type BatchObservableCallback,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  type ObservableUpDownCounter,
} from '@opentelemetry/api';
import type { CircuitEvent, DecisionEvent, FallbackEvent, RedisErrorEvent } from '../events.js';
import { knownKeys, options as optionsObject, show } from '../validate.js';

/** Options of {@link instrument}. All optional: `instrument()` uses the global meter provider. */
export interface InstrumentOptions {
  /** The meter to create the instruments on. Not together with `meterProvider` or `name`. */
  meter?: Meter;
  /** Where to get the meter from; default: the global one (`metrics.getMeterProvider()`). */
  meterProvider?: MeterProvider;
  /** The meter's name (its instrumentation scope); default `'bucketflow'`. */
  name?: string;
  /**
   * The `bucketflow.limiter` attribute of a limiter: a short label, asked once per limiter object.
   * Default: the class name, with the limiter's `key`, `prefix` or `name` if it has one, such as
   * `TokenBucket` or `RedisTokenBucket(rl:search)`. Return few distinct labels: each is a time series.
   */
  describeBucket?: (bucket: object) => string;
  /**
   * Limiters whose `waiting` and `size` to report from the start. Others are reported once they
   * have decided a request, for as long as they live (they are held weakly).
   */
  limiters?: readonly object[];
}

/** What {@link instrument} started. */
export interface Instrumentation {
  /** Stops listening and reporting (the instruments stay on the meter, with nothing new in them). Idempotent. */
  stop(): void;
}

const DECISION = 'bucketflow:decision';
const REDIS_ERROR = 'bucketflow:redis-error';
const FALLBACK = 'bucketflow:fallback';
const CIRCUIT = 'bucketflow:circuit';

/** What a limiter is reported with: its label and the attribute sets of its decisions, made once. */
interface Seen {
  readonly label: string;
  readonly allowed: Attributes;
  readonly refused: Attributes;
}

/**
 * Records what bucketflow's limiters publish as OpenTelemetry metrics, until `stop()`:
 *
 * - `bucketflow.decisions` (counter, `{decision}`): every decision, by `bucketflow.outcome`
 *   (`allowed` or `refused`) and `bucketflow.limiter`. A keyed limiter's key is never an attribute.
 * - `bucketflow.wait` (histogram, ms): how long requests that could wait waited, same attributes.
 * - `bucketflow.redis.errors` (counter, `{error}`): failed Redis calls, by `bucketflow.limiter` and
 *   `error.type` (the name of the client's error, or `RedisBucketError` when there is none, as on a timeout).
 * - `bucketflow.fallbacks` (counter, `{request}`): requests the failure policy answered, by
 *   `bucketflow.limiter` and `bucketflow.policy` (`throw`, `allow`, `deny` or `local`).
 * - `bucketflow.circuit.transitions` (counter, `{transition}`): circuit breaker changes, by
 *   `bucketflow.limiter` and `bucketflow.circuit.state` (`open`, `half-open`, `closed`).
 * - `bucketflow.waiting` (observable up-down counter, `{request}`): callers waiting now, summed per
 *   `bucketflow.limiter`, of limiters with a `waiting` read-out.
 * - `bucketflow.keys` (observable up-down counter, `{key}`): keys held now by keyed limiters, summed per
 *   `bucketflow.limiter`.
 *
 * Call it once per meter provider: each call counts every event again. Bad options throw a `TypeError`.
 */
export function instrument(options?: InstrumentOptions): Instrumentation {
  const o = optionsObject<InstrumentOptions>('instrument options', options);
  knownKeys('instrument options', o, ['meter', 'meterProvider', 'name', 'describeBucket', 'limiters']);
  const meter = meterOf(o);
  const describe = o.describeBucket ?? defaultLabel;
  if (typeof describe !== 'function') throw new TypeError(`describeBucket must be a function, got ${show(describe)}`);
  const given = o.limiters ?? [];
  if (!Array.isArray(given) || !given.every((l) => typeof l === 'object' && l !== null)) {
    throw new TypeError(`limiters must be an array of limiter objects, got ${show(given)}`);
  }

  const decisions = meter.createCounter('bucketflow.decisions', {
    description: 'Requests a rate limiter decided, by outcome.',
    unit: '{decision}',
  });
  const wait = meter.createHistogram('bucketflow.wait', {
    description: 'How long requests that could wait for tokens or a slot waited before they were served or refused.',
    unit: 'ms',
  });
  const redisErrors = meter.createCounter('bucketflow.redis.errors', {
    description: 'Redis calls of a limiter that failed: an error, no connection, or no answer within its timeout.',
    unit: '{error}',
  });
  const fallbacks = meter.createCounter('bucketflow.fallbacks', {
    description: 'Requests the failure policy (onRedisError) answered instead of Redis.',
    unit: '{request}',
  });
  const transitions = meter.createCounter('bucketflow.circuit.transitions', {
    description: "Changes of a Redis limiter's circuit breaker, by the state it entered.",
    unit: '{transition}',
  });
  // Up-down counters, not gauges: callers waiting and keys held add up across limiters (OTel's
  // rule for choosing), and limiters that share a label are summed into one series.
  const waiting = meter.createObservableUpDownCounter('bucketflow.waiting', {
    description: 'Callers waiting in a limiter now.',
    unit: '{request}',
  });
  const keys = meter.createObservableUpDownCounter('bucketflow.keys', {
    description: 'Keys a keyed limiter holds now.',
    unit: '{key}',
  });

  const seen = new WeakMap<object, Seen>();
  // Limiters are reported while they live: the application owns them, a metric must not keep them.
  const watched = new Set<WeakRef<object>>();
  const held = new Set<object>(given);

  const seenOf = (bucket: object): Seen => {
    let s = seen.get(bucket);
    if (s === undefined) {
      const label = labelOf(describe, bucket);
      s = {
        label,
        allowed: { 'bucketflow.outcome': 'allowed', 'bucketflow.limiter': label },
        refused: { 'bucketflow.outcome': 'refused', 'bucketflow.limiter': label },
      };
      seen.set(bucket, s);
      if (!held.has(bucket)) watched.add(new WeakRef(bucket));
    }
    return s;
  };

  const onDecision = (message: unknown): void => {
    const e = message as DecisionEvent;
    const s = seenOf(e.bucket);
    const attributes = e.allowed ? s.allowed : s.refused;
    decisions.add(1, attributes);
    if (e.waitedMs !== undefined) wait.record(e.waitedMs, attributes);
  };
  const onRedisError = (message: unknown): void => {
    const { bucket, error } = message as RedisErrorEvent;
    const cause = error.cause instanceof Error ? error.cause : error;
    redisErrors.add(1, { 'bucketflow.limiter': seenOf(bucket).label, 'error.type': cause.name });
  };
  const onFallback = (message: unknown): void => {
    const { bucket, policy } = message as FallbackEvent;
    fallbacks.add(1, { 'bucketflow.limiter': seenOf(bucket).label, 'bucketflow.policy': policyName(policy) });
  };
  const onCircuit = (message: unknown): void => {
    const { bucket, state } = message as CircuitEvent;
    transitions.add(1, { 'bucketflow.limiter': seenOf(bucket).label, 'bucketflow.circuit.state': state });
  };

  const observe: BatchObservableCallback = (result) => {
    const waits = new Map<string, number>();
    const sizes = new Map<string, number>();
    const read = (limiter: object): void => {
      const { waiting: w, size } = limiter as { waiting?: unknown; size?: unknown };
      if (typeof w !== 'number' && typeof size !== 'number') return;
      const { label } = seenOf(limiter);
      if (typeof w === 'number') waits.set(label, (waits.get(label) ?? 0) + w);
      if (typeof size === 'number') sizes.set(label, (sizes.get(label) ?? 0) + size);
    };
    for (const limiter of held) read(limiter);
    for (const ref of watched) {
      const limiter = ref.deref();
      if (limiter === undefined) watched.delete(ref);
      else read(limiter);
    }
    for (const [label, n] of waits) result.observe(waiting, n, { 'bucketflow.limiter': label });
    for (const [label, n] of sizes) result.observe(keys, n, { 'bucketflow.limiter': label });
  };
  const observed: ObservableUpDownCounter[] = [waiting, keys];

  subscribe(DECISION, onDecision);
  subscribe(REDIS_ERROR, onRedisError);
  subscribe(FALLBACK, onFallback);
  subscribe(CIRCUIT, onCircuit);
  meter.addBatchObservableCallback(observe, observed);

  let stopped = false;
  return {
    stop(): void {
      if (stopped) return;
      stopped = true;
      unsubscribe(DECISION, onDecision);
      unsubscribe(REDIS_ERROR, onRedisError);
      unsubscribe(FALLBACK, onFallback);
      unsubscribe(CIRCUIT, onCircuit);
      meter.removeBatchObservableCallback(observe, observed);
      held.clear();
      watched.clear();
    },
  };
}

function meterOf(o: Partial<InstrumentOptions>): Meter {
  if (o.meter !== undefined) {
    if (o.meterProvider !== undefined || o.name !== undefined) {
      throw new TypeError('instrument options: pass either meter, or meterProvider and/or name (the meter to make), not both');
    }
    if (typeof o.meter !== 'object' || o.meter === null || typeof o.meter.createCounter !== 'function') {
      throw new TypeError(`meter must be an OpenTelemetry Meter, got ${show(o.meter)}`);
    }
    return o.meter;
  }
  const provider = o.meterProvider ?? metrics.getMeterProvider();
  if (typeof provider !== 'object' || provider === null || typeof provider.getMeter !== 'function') {
    throw new TypeError(`meterProvider must be an OpenTelemetry MeterProvider, got ${show(provider)}`);
  }
  const name = o.name ?? 'bucketflow';
  if (typeof name !== 'string' || name === '') throw new TypeError(`name must be a non-empty string, got ${show(name)}`);
  return provider.getMeter(name);
}

/** The class name, and the limiter's `key`, `prefix` or `name` (what tells two of a class apart). */
function defaultLabel(bucket: object): string {
  const kind = (bucket.constructor as { name?: unknown } | undefined)?.name;
  const base = typeof kind === 'string' && kind !== '' ? kind : 'limiter';
  const { key, prefix, name } = bucket as { key?: unknown; prefix?: unknown; name?: unknown };
  const id = [key, prefix, name].find((v): v is string => typeof v === 'string' && v !== '');
  return id === undefined ? base : `${base}(${id})`;
}

/**
 * The user's label for `bucket`. It runs inside a limiter's call, where a throw would crash the
 * process (diagnostics_channel rethrows a subscriber's error asynchronously): a failing
 * `describeBucket` is reported on OpenTelemetry's diag logger and the default label used instead.
 */
function labelOf(describe: (bucket: object) => string, bucket: object): string {
  if (describe === defaultLabel) return defaultLabel(bucket);
  try {
    const label = describe(bucket);
    if (typeof label === 'string') return label;
    diag.error(`bucketflow/otel: describeBucket returned ${show(label)}, not a string; using the default label`);
  } catch (error) {
    diag.error('bucketflow/otel: describeBucket threw; using the default label', error);
  }
  return defaultLabel(bucket);
}

/** The `onRedisError` value as an attribute: a local limiter (an object) is `'local'`. */
const policyName = (policy: unknown): string => (typeof policy === 'string' ? policy : 'local');
