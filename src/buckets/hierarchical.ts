import { checkClock, type Clock } from '../clock.js';
import { decide, type LimitConfig } from '../core/decision.js';
import { advance, headWait, refund, reserve, slowdown, stretch, waitAll, type Limits } from '../core/limits.js';
import { covers, perMillisecond, refill } from '../core/refill.js';
import { RateLimitExceeded, answeredAtOnce, neverFits, refusalOf } from '../errors.js';
import { markKind } from '../kinds.js';
import { lockChangeable, lockFields, replaceField } from '../readonly.js';
import type { AcquirableBucket, AcquireOptions, ConsumeOptions, Decision, LimitsUpdate } from '../types.js';
import { decisionChannel, publishDecision, watchWait } from '../events.js';
import * as check from '../validate.js';
import { checkCanSleep, sleepSync } from '../waiting/sleep.js';
import { WaiterQueue } from '../waiting/waiter-queue.js';

/** Options of {@link HierarchicalTokenBucket}. */
export interface HierarchicalTokenBucketOptions {
  /** Most tokens this level holds. A finite number > 0. */
  capacity: number;
  /** Refill rate of this level in tokens per second, >= 0. */
  fillRate: number;
  /** Tokens at creation, in [0, capacity]. Default: `capacity`. */
  initialTokens?: number;
  /** Time source; a child without one uses its parent's. */
  clock?: Clock;
  /** A label, used in errors and by {@link createBucketHierarchy}. */
  name?: string;
  /** The bucket above this one; every consume here is charged there too. */
  parent?: HierarchicalTokenBucket;
  /** Most callers that may wait in this bucket's `acquire` at once; past it a request that would wait is refused. Default: unbounded. */
  maxWaiting?: number;
}

const KEYS = ['capacity', 'fillRate', 'initialTokens', 'clock', 'name', 'parent', 'maxWaiting'] as const;

/** How a chain of buckets (leaf first) is laid out for the core (set in the class's static block). */
let CHAIN: Limits<readonly HierarchicalTokenBucket[]>;

/**
 * A token bucket in a tree: consuming from it takes the tokens from it **and every ancestor**,
 * all or nothing. A waiter reserves its tokens on every level when it queues, as on every other
 * kind of bucket. Each bucket keeps its own FIFO of waiters: siblings never queue behind each
 * other, they only wait for tokens their shared ancestors lack after earlier reservations.
 */
export class HierarchicalTokenBucket implements AcquirableBucket {
  readonly name: string | undefined;
  readonly parent: HierarchicalTokenBucket | undefined;
  /** Most tokens this level holds. */
  readonly capacity: number;
  /** Refill rate of this level in tokens per second. */
  readonly fillRate: number;
  readonly #clock: Clock;
  #perMs: number;
  #level: number;
  /** Clock time of the last refill; declared fractional to stay a double V8 updates in place (see LocalBucket). */
  #last = 0.5;
  /** This bucket, then its parent, up to the root: the chain of limits every take charges. */
  readonly #chain: HierarchicalTokenBucket[];
  /** The chain's limits as configured, made at the first take(). */
  #chainLimits: readonly LimitConfig[] | undefined;
  /** This bucket alone, for what reads its own level. */
  readonly #own: HierarchicalTokenBucket[];
  /** Smallest capacity on the chain: the largest request that can ever be served here. */
  #fits: number;
  #children: HierarchicalTokenBucket[] = [];
  #childrenView: readonly HierarchicalTokenBucket[] = Object.freeze([]);
  #queue: WaiterQueue | undefined;
  readonly #maxWaiting: number;

  constructor(options: HierarchicalTokenBucketOptions) {
    const o = check.required<HierarchicalTokenBucketOptions>(options, KEYS, '{ capacity, fillRate }');
    if (o.name !== undefined && typeof o.name !== 'string') throw new TypeError(`name must be a string, got ${typeof o.name}`);
    const where = o.name === undefined ? '' : `bucket ${JSON.stringify(o.name)}`;
    const { capacity, fillRate, initialTokens } = check.limit(where, o);
    const parent = o.parent;
    if (parent !== undefined && !(parent instanceof HierarchicalTokenBucket)) {
      throw new TypeError('parent must be a HierarchicalTokenBucket (or undefined for a root)');
    }
    const clock = o.clock === undefined ? (parent === undefined ? undefined : parent.#clock) : checkClock('clock', o.clock);
    if (parent !== undefined && clock !== parent.#clock) {
      throw new TypeError('clock must be the same as the parent\'s (omit it to use the parent\'s clock)');
    }
    this.name = o.name;
    this.parent = parent;
    this.capacity = capacity;
    this.fillRate = fillRate;
    this.#clock = clock ?? checkClock('clock', undefined);
    this.#perMs = perMillisecond(fillRate);
    this.#level = initialTokens;
    this.#last = this.#clock.now();
    this.#chain = parent === undefined ? [this] : [this, ...parent.#chain];
    this.#own = parent === undefined ? this.#chain : [this];
    this.#fits = parent === undefined ? capacity : Math.min(capacity, parent.#fits);
    this.#maxWaiting = check.maxWaiting(o.maxWaiting);
    if (parent !== undefined) {
      parent.#children.push(this);
      parent.#childrenView = Object.freeze([...parent.#children]);
    }
    lockFields<HierarchicalTokenBucket>(this, ['name', 'parent']);
    lockChangeable<HierarchicalTokenBucket>(this, ['capacity', 'fillRate']);
  }

  /** Buckets whose parent is this one, in creation order. */
  get children(): readonly HierarchicalTokenBucket[] {
    return this.#childrenView;
  }

  static {
    CHAIN = {
      count: (chain) => chain.length,
      capacity: (chain, i) => chain[i]!.capacity,
      perMs: (chain, i) => chain[i]!.#perMs,
      level: (chain, i) => chain[i]!.#level,
      last: (chain, i) => chain[i]!.#last,
      set: (chain, i, level, last) => {
        const b = chain[i]!;
        b.#level = level;
        b.#last = last;
      },
    };
  }

  /**
   * Tokens this level holds now, after refill. Below 0 while waiters (of this bucket or of any
   * below it) hold reservations; never above capacity.
   */
  get tokens(): number {
    advance(CHAIN, this.#own, this.#clock.now());
    return this.#level;
  }

  /** Milliseconds until this level alone has `n` tokens (`Infinity` if never). */
  timeUntil(n = 1): number {
    check.tokens(n);
    if (n > this.capacity) return Infinity;
    const now = this.#clock.now();
    advance(CHAIN, this.#own, now);
    return waitAll(CHAIN, this.#own, n, now);
  }

  /**
   * Takes `n` tokens from this bucket and every ancestor if every level has them now, without
   * waiting, and returns the whole decision: whether they were taken, what each level holds after
   * it (this bucket's first, then its ancestors' up to the root), how long until the same request
   * could pass and until every level is full again. `n` above a capacity on the chain is a refused
   * decision with `retryAfter: Infinity`.
   */
  take(n = 1): Decision {
    check.tokens(n);
    const now = this.#clock.now();
    this.#queue?.pump(now);
    this.#chainLimits ??= this.#chain.map((b) => ({ capacity: b.capacity, fillRate: b.fillRate }));
    const decision = decide(CHAIN, this.#chain, n, this.#fits, now, this.#chainLimits);
    if (decisionChannel.hasSubscribers) publishDecision(this, undefined, n, decision.allowed);
    return decision;
  }

  /**
   * Takes `n` tokens from this bucket and every ancestor, or from none. With `block: true` it
   * sleeps the thread until every level has them (nothing is held while it sleeps) and returns
   * `false` at once if that would exceed `maxWait` ms.
   */
  consume(n = 1, options?: ConsumeOptions): boolean {
    const taken = this.#consume(n, options);
    if (decisionChannel.hasSubscribers) publishDecision(this, undefined, n, taken);
    return taken;
  }

  #consume(n: number, options: ConsumeOptions | undefined): boolean {
    check.tokens(n);
    const { block, maxWait } = options === undefined ? NON_BLOCKING : check.consumeOptions(options);
    if (n > this.#fits) {
      if (block) throw neverFits(n, this.#fits, 'capacity (or an ancestor\'s)');
      return false;
    }
    if (n === 0) return true; // even while waiters' reservations hold the levels below 0
    const now = this.#clock.now();
    this.#queue?.pump(now);
    // Waiters' reservations are in the levels already: a level that covers n has them to spare.
    if (this.#takeNow(n, now)) return true;
    if (!block) return false;
    let wait = waitAll(CHAIN, this.#chain, n, now);
    if (wait === Infinity || wait > maxWait) return false;
    checkCanSleep(this.#clock);
    // The thread is ours while it sleeps: serve the waiters that come due meanwhile, then us.
    for (;;) {
      sleepSync(Math.max(1, wait));
      const at = this.#clock.now();
      this.#queue?.pump(at);
      if (this.#takeNow(n, at)) return true;
      wait = waitAll(CHAIN, this.#chain, n, at);
    }
  }

  /**
   * Takes `n` tokens (0 < n <= the chain's smallest capacity) from every level of the chain if
   * they all have them at `now`, else none: the core's reserve (maxWait 0) written out over the
   * chain's fields, as TokenBucket's takes are, and pinned to the core by a property test. Through
   * the core, every level is read and written by the layout's calls in three passes, and those
   * calls are megamorphic wherever other kinds of bucket run too.
   */
  #takeNow(n: number, now: number): boolean {
    const chain = this.#chain;
    let fits = true;
    for (let i = 0; i < chain.length; i++) {
      const b = chain[i]!;
      const last = b.#last;
      if (now > last) {
        b.#level = refill(b.#level, last, now, b.capacity, b.#perMs);
        b.#last = now;
      }
      if (fits) fits = covers(b.#level, n, b.#perMs, now);
    }
    if (!fits) return false;
    // Levels never exceed their capacities, so taking n > 0 needs no clamp (the core's addAll has one).
    for (let i = 0; i < chain.length; i++) chain[i]!.#level -= n;
    return true;
  }

  /**
   * Takes `n` tokens (default 1) from this bucket and every ancestor at once, even if that leaves
   * a level below 0: nothing passes through them until time has paid the debt back (a penalty
   * for abuse). Waiters already queued keep their turn.
   */
  penalize(n = 1): void {
    check.tokens(n);
    refund(CHAIN, this.#chain, -n, this.#clock.now());
  }

  /** Gives `n` tokens (default 1) to this bucket and every ancestor, never above a capacity; this bucket's queued waiters that now have their tokens are served. */
  reward(n = 1): void {
    check.tokens(n);
    const now = this.#clock.now();
    refund(CHAIN, this.#chain, n, now);
    this.#queue?.pump(now);
  }

  /**
   * Changes this level's limit from now on, as Go's `SetLimit`/`SetBurst` do: tokens earned up to
   * now count at the old rate, a level above the new capacity is cut to it, and the waiters of
   * this bucket and of every bucket below it are re-timed (they keep their turn and their
   * reservations, and are never served before their tokens are earned). A hierarchy bucket has
   * one limit: `{ capacity, fillRate }`, or `limits` with one entry.
   */
  setLimits(update: LimitsUpdate): void {
    const limits = check.limitsUpdate(update);
    if (limits.length !== 1) throw new TypeError(`a hierarchy bucket has one limit, got ${limits.length} in limits`);
    const { capacity, fillRate } = limits[0]!;
    const now = this.#clock.now();
    advance(CHAIN, this.#own, now);
    const ratio = Math.max(1, slowdown([this.#perMs], [perMillisecond(fillRate)]));
    this.#perMs = perMillisecond(fillRate);
    if (this.#level > capacity) this.#level = capacity;
    replaceField<HierarchicalTokenBucket, 'capacity'>(this, 'capacity', capacity);
    replaceField<HierarchicalTokenBucket, 'fillRate'>(this, 'fillRate', fillRate);
    // Every bucket below charges this level too: its bound on a request and its waiters change.
    const visit = (b: HierarchicalTokenBucket): void => {
      b.#fits = b.parent === undefined ? b.capacity : Math.min(b.capacity, b.parent.#fits);
      b.#chainLimits = undefined;
      b.#queue?.retime(now, (at) => stretch(at, now, ratio));
      for (const child of b.#children) visit(child);
    };
    visit(this);
  }

  /** Callers waiting in this bucket's `acquire` now. */
  get waiting(): number {
    return this.#queue?.size ?? 0;
  }

  /**
   * Waits (without blocking the event loop) until `n` tokens are taken from every level: they
   * are reserved on every level at once (the levels go below 0 by what is owed), and the waiter
   * is served when time has earned them on the slowest level. Rejects with
   * {@link RateLimitExceeded} when that would exceed `maxWait`, `signal.reason` on abort (the
   * reservation goes back), `RangeError` if `n` exceeds a capacity on the chain.
   */
  acquire(n = 1, options?: AcquireOptions): Promise<void> {
    const waited = this.#acquire(n, options);
    return decisionChannel.hasSubscribers ? watchWait(this, undefined, n, this.#clock, waited) : waited;
  }

  #acquire(n: number, options: AcquireOptions | undefined): Promise<void> {
    try {
      const { maxWait, signal } = check.acquireRequest(n, options, this.#fits, 'capacity (or an ancestor\'s)');
      const early = answeredAtOnce(n, signal);
      if (early !== undefined) return early;
      const now = this.#clock.now();
      this.#queue?.pump(now);
      const full = this.waiting >= this.#maxWaiting;
      const wait = reserve(CHAIN, this.#chain, n, full ? 0 : maxWait, now);
      if (wait === 0) return Promise.resolve();
      const refused = refusalOf(wait, maxWait, full, this.#maxWaiting);
      if (refused !== undefined) throw refused;
      this.#queue ??= this.#newQueue();
      return this.#queue.enqueue(n, now + wait, signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #newQueue(): WaiterQueue {
    const queue: WaiterQueue = new WaiterQueue({
      clock: this.#clock,
      serve: (n, at, now) => headWait(CHAIN, this.#chain, n, at, now, queue.owed),
      release: (n) => refund(CHAIN, this.#chain, n, this.#clock.now()),
    }, true); // shared levels also hold other queues' reservations: the planned time tells
    return queue;
  }
}

markKind(HierarchicalTokenBucket, 'single');

const NON_BLOCKING = { block: false, maxWait: Infinity } as const;

/** One node of a {@link createBucketHierarchy} config. */
export interface BucketHierarchyNode {
  /** Unique across the whole hierarchy: the key of this bucket in the result. */
  name: string;
  capacity: number;
  /** Tokens per second, >= 0. */
  fillRate: number;
  initialTokens?: number;
  /** Most callers that may wait in this bucket's `acquire` at once (local hierarchies). Default: unbounded. */
  maxWaiting?: number;
  children?: readonly BucketHierarchyNode[];
}

/** A {@link createBucketHierarchy} config: the root node, optionally with the clock for all buckets. */
export interface BucketHierarchyConfig extends BucketHierarchyNode {
  clock?: Clock;
}

/**
 * The names used anywhere in a config, as a union of string literals when the config is a
 * literal (so `buckets.serch` is a type error), `string` otherwise. Deeper than 10 levels: `string`.
 */
export type BucketHierarchyNames<C, Depth extends unknown[] = []> = Depth['length'] extends 10
  ? string
  : C extends { readonly name: infer N extends string }
    ? N | (C extends { readonly children: readonly (infer Child)[] } ? BucketHierarchyNames<Child, [...Depth, unknown]> : never)
    : string;

const NODE_KEYS = ['name', 'capacity', 'fillRate', 'initialTokens', 'maxWaiting', 'children'] as const;
const ROOT_KEYS = [...NODE_KEYS, 'clock'] as const;

/**
 * Builds a tree of {@link HierarchicalTokenBucket}s from a config object and returns every
 * bucket by name. The whole config is checked before any bucket is made; an error names the node.
 *
 * @example
 * const { api, search } = createBucketHierarchy({
 *   name: 'api', capacity: 100, fillRate: 50,
 *   children: [{ name: 'search', capacity: 20, fillRate: 10 }],
 * });
 */
export function createBucketHierarchy<const C extends BucketHierarchyConfig>(
  config: C,
): Record<BucketHierarchyNames<C>, HierarchicalTokenBucket> {
  const seen = new Set<string>();
  const clock = checkNode(config, 'the root', seen, true);
  const out: Record<string, HierarchicalTokenBucket> = Object.create(null);
  const build = (node: BucketHierarchyNode, parent: HierarchicalTokenBucket | undefined): void => {
    const bucket = new HierarchicalTokenBucket({
      name: node.name,
      capacity: node.capacity,
      fillRate: node.fillRate,
      initialTokens: node.initialTokens,
      maxWaiting: node.maxWaiting,
      parent,
      clock: parent === undefined ? clock : undefined,
    });
    out[node.name] = bucket;
    for (const child of node.children ?? []) build(child, bucket);
  };
  build(config, undefined);
  return out as never;
}

function checkNode(node: unknown, path: string, seen: Set<string>, root: boolean): Clock | undefined {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) {
    throw new TypeError(`createBucketHierarchy: node at ${path} must be an object, got ${node === null ? 'null' : typeof node}`);
  }
  const n = node as Partial<BucketHierarchyConfig>;
  if (typeof n.name !== 'string' || n.name === '') {
    throw new TypeError(`createBucketHierarchy: node at ${path} needs a name (a non-empty string)`);
  }
  const where = `createBucketHierarchy: node ${JSON.stringify(n.name)} (at ${path})`;
  try {
    check.knownKeys('config', n, root ? ROOT_KEYS : NODE_KEYS);
  } catch (error) {
    const hint = !root && 'clock' in n ? ' (clock is allowed only at the root)' : '';
    throw new TypeError(`${where}: ${(error as Error).message}${hint}`);
  }
  if (seen.has(n.name)) throw new TypeError(`${where}: duplicate name ${JSON.stringify(n.name)}`);
  seen.add(n.name);
  check.limit(where, n);
  try {
    check.maxWaiting(n.maxWaiting);
  } catch (error) {
    const Kind = error instanceof RangeError ? RangeError : TypeError;
    throw new Kind(`${where}: ${(error as Error).message}`);
  }
  if (n.children !== undefined && !Array.isArray(n.children)) {
    throw new TypeError(`${where}: children must be an array of nodes`);
  }
  (n.children ?? []).forEach((child, i) => checkNode(child, `${n.name}.children[${i}]`, seen, false));
  return root ? checkClock(`${where}: clock`, n.clock) : undefined;
}
