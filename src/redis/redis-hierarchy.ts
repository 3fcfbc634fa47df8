import { createBucketHierarchy, type BucketHierarchyNames, type BucketHierarchyNode } from '../buckets/hierarchical.js';
import { markKind } from '../kinds.js';
import { lockFields } from '../readonly.js';
import type { AcquirableBucket, AcquireOptions, AsyncConsumeOptions, Decision, LimitsUpdate } from '../types.js';
import * as check from '../validate.js';
import { checkCircuitBreaker } from './circuit.js';
import { checkFailurePolicy, type FailureAnswer } from './failure-policy.js';
import { checkClient, checkTimeout, type RedisConnectionOptions } from './options.js';
import { RedisBucket, retarget, settleOwn, targetsOf } from './redis-bucket.js';
import { RedisLimiter } from './redis-limiter.js';
import { limitArgs, type RedisTarget } from './target.js';

/** A {@link createRedisBucketHierarchy} config: the root node plus the Redis connection. */
export interface RedisBucketHierarchyConfig extends BucketHierarchyNode, RedisConnectionOptions {
  /**
   * Start of every key of the hierarchy (default `''`). A bucket's key is
   * `${prefix}{${rootName}}:${name}`: the `{rootName}` hash tag puts the whole hierarchy in one
   * Cluster slot. The prefix must not contain `{` or `}`.
   */
  prefix?: string;
}

/**
 * One bucket of a Redis hierarchy (made by {@link createRedisBucketHierarchy}): consuming from it
 * takes the tokens from it **and every ancestor** in one atomic script, all or nothing.
 */
export interface RedisHierarchicalTokenBucket extends AcquirableBucket {
  readonly name: string;
  /** The Redis key holding this level's state. */
  readonly key: string;
  readonly parent: RedisHierarchicalTokenBucket | undefined;
  readonly children: readonly RedisHierarchicalTokenBucket[];
  /** Most tokens this level holds. */
  readonly capacity: number;
  /** Refill rate of this level in tokens per second. */
  readonly fillRate: number;
  /**
   * Takes `n` tokens from this bucket and every ancestor, or from none. `false` at once without
   * `block`; with `block` it waits for the slowest level (its tokens reserved on every level), or
   * resolves `false` at once if that would exceed `maxWait` ms. `n` above a capacity on the chain:
   * `false`, or `RangeError` with `block`.
   */
  consume(n?: number, options?: AsyncConsumeOptions): Promise<boolean>;
  /**
   * The non-waiting decision in full: whether `n` tokens were taken from this bucket and every
   * ancestor, each level after it (this bucket's first, then its ancestors'), and the waits.
   */
  take(n?: number): Promise<Decision>;
  /** The waiting form of {@link consume}: rejects {@link RateLimitExceeded} past `maxWait`. */
  acquire(n?: number, options?: AcquireOptions): Promise<void>;
  /** Milliseconds until this level alone has `n` tokens (`Infinity` if never). */
  timeUntil(n?: number): Promise<number>;
  /** Tokens this level holds now (below 0 while waiters hold reservations). */
  tokens(): Promise<number>;
  /** Callers of this process waiting in this bucket's `acquire` now. */
  readonly waiting: number;
  /** Takes `n` tokens from this bucket and every ancestor at once, even below 0 (a penalty). One atomic script. */
  penalize(n?: number): Promise<void>;
  /** Gives `n` tokens to this bucket and every ancestor, never above a capacity. One atomic script. */
  reward(n?: number): Promise<void>;
  /**
   * Changes this level's limit (one: `{ capacity, fillRate }`) from now on, as `RedisTokenBucket`'s
   * `setLimits` does: its key refilled to now at the old limit first (best effort), then every
   * call of this process through it (its own and its descendants') carries the new one, and this
   * process's sleeping waiters below it are re-timed.
   */
  setLimits(update: LimitsUpdate): Promise<void>;
}

const ROOT_KEYS = ['redis', 'prefix', 'timeout', 'onRedisError', 'circuitBreaker', 'name', 'capacity', 'fillRate', 'initialTokens', 'maxWaiting', 'children'] as const;

class RedisHierarchyNode extends RedisBucket implements RedisHierarchicalTokenBucket {
  readonly name: string;
  readonly key: string;
  readonly parent: RedisHierarchyNode | undefined;
  #children: RedisHierarchyNode[] = [];
  #childrenView: readonly RedisHierarchyNode[] = Object.freeze([]);
  /** The keys a request here takes from (its children's chains start with it). */
  #chain: RedisTarget;

  constructor(node: BucketHierarchyNode, parent: RedisHierarchyNode | undefined, keyOf: (name: string) => string,
    limiter: RedisLimiter, onFailure: FailureAnswer) {
    const key = keyOf(node.name);
    const initialTokens = node.initialTokens ?? node.capacity;
    const args = limitArgs([{ capacity: node.capacity, fillRate: node.fillRate, initialTokens }]);
    const what = `Redis hierarchy bucket ${JSON.stringify(node.name)}`;
    const limits = [{ capacity: node.capacity, fillRate: node.fillRate }];
    const own: RedisTarget = { keys: [key], limitArgs: args, capacity: node.capacity, limits, what };
    const chain: RedisTarget = parent === undefined ? own : {
      keys: [key, ...parent.#chain.keys],
      limitArgs: [...args, ...parent.#chain.limitArgs],
      capacity: Math.min(node.capacity, parent.#chain.capacity),
      limits: [...limits, ...parent.#chain.limits],
      what,
    };
    super({
      capacity: node.capacity, fillRate: node.fillRate, limiter, chain, own, onFailure,
      startsBelowCapacity: initialTokens < node.capacity, maxWaiting: check.maxWaiting(node.maxWaiting),
    });
    this.name = node.name;
    this.key = key;
    this.parent = parent;
    this.#chain = chain;
    if (parent !== undefined) {
      parent.#children.push(this);
      parent.#childrenView = Object.freeze([...parent.#children]);
    }
    lockFields<RedisHierarchyNode>(this, ['name', 'key', 'parent']);
  }

  get children(): readonly RedisHierarchyNode[] {
    return this.#childrenView;
  }

  async setLimits(update: LimitsUpdate): Promise<void> {
    const limits = check.limitsUpdate(update);
    if (limits.length !== 1) throw new TypeError(`a hierarchy bucket has one limit, got ${limits.length} in limits`);
    const { capacity, fillRate, initialTokens } = limits[0]!;
    await settleOwn(this);
    const own = { ...targetsOf(this).own, limitArgs: limitArgs([{ capacity, fillRate, initialTokens }]), capacity, limits: [{ capacity, fillRate }] };
    const changes: { bucket: RedisBucket; chain: RedisTarget; own: RedisTarget }[] = [];
    // Every chain below this bucket holds its limit too: each is made anew from its parent's.
    const visit = (node: RedisHierarchyNode, nodeOwn: RedisTarget): void => {
      const parent = node.parent;
      node.#chain = parent === undefined ? nodeOwn : {
        keys: [nodeOwn.keys[0]!, ...parent.#chain.keys],
        limitArgs: [...nodeOwn.limitArgs, ...parent.#chain.limitArgs],
        capacity: Math.min(nodeOwn.capacity, parent.#chain.capacity),
        limits: [...nodeOwn.limits, ...parent.#chain.limits],
        what: nodeOwn.what,
      };
      changes.push({ bucket: node, chain: node.#chain, own: nodeOwn });
      for (const child of node.#children) visit(child, targetsOf(child).own);
    };
    visit(this, own);
    retarget(changes);
  }
}

markKind(RedisHierarchyNode, 'single');

/**
 * The Redis counterpart of `createBucketHierarchy`: builds a tree of Redis buckets from a config
 * and returns every bucket by name. A consume charges the bucket and all its ancestors (leaf to
 * root) in **one** atomic script, all or nothing; all keys share the `{rootName}` hash tag, so
 * the hierarchy works on Redis Cluster. The config is checked before anything is sent.
 *
 * @example
 * const { api, search } = createRedisBucketHierarchy({
 *   redis, prefix: 'rl:', name: 'api', capacity: 100, fillRate: 50,
 *   children: [{ name: 'search', capacity: 20, fillRate: 10 }],
 * });
 * await search.acquire(); // takes 1 from search and 1 from api
 */
export function createRedisBucketHierarchy<const C extends RedisBucketHierarchyConfig>(
  config: C,
): Record<BucketHierarchyNames<C>, RedisHierarchicalTokenBucket> {
  const o = check.options<RedisBucketHierarchyConfig>('config', config);
  if (config === undefined) throw new TypeError('createRedisBucketHierarchy needs a config: { redis, name, capacity, fillRate, children? }');
  try {
    check.knownKeys('config', o, ROOT_KEYS);
  } catch (error) {
    throw new TypeError(`createRedisBucketHierarchy: ${(error as Error).message}`);
  }
  const client = checkClient(o.redis);
  const timeout = checkTimeout(o.timeout);
  // A local fallback bucket stands in for the whole hierarchy: every bucket of it asks that one.
  const onFailure = checkFailurePolicy(o.onRedisError, 'single', timeout);
  const prefix = o.prefix ?? '';
  if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
    throw new TypeError(`prefix must be a string without { or } (the hierarchy adds its own hash tag), got ${check.show(prefix)}`);
  }
  // The local factory checks the tree (names, numbers, duplicates) with messages naming the node,
  // so both kinds of hierarchy accept exactly the same configs.
  const { redis: _r, prefix: _p, timeout: _t, onRedisError: _e, circuitBreaker: _c, ...tree } = o as RedisBucketHierarchyConfig;
  try {
    createBucketHierarchy(tree);
  } catch (error) {
    const Kind = error instanceof RangeError ? RangeError : TypeError;
    throw new Kind(String((error as Error).message).replace('createBucketHierarchy', 'createRedisBucketHierarchy'));
  }
  const keyOf = (name: string): string => `${prefix}{${tree.name}}:${name}`;
  const limiter = new RedisLimiter(client, timeout, checkCircuitBreaker(o.circuitBreaker));
  const out: Record<string, RedisHierarchyNode> = Object.create(null);
  const build = (config: BucketHierarchyNode, parent: RedisHierarchyNode | undefined): void => {
    const node = new RedisHierarchyNode(config, parent, keyOf, limiter, onFailure);
    out[node.name] = node;
    for (const child of config.children ?? []) build(child, node);
  };
  build(tree, undefined);
  limiter.owner = out[tree.name]!; // the root names the whole hierarchy in events
  return out as never;
}
