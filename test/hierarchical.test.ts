import { describe, expect, it } from 'vitest';
import { HierarchicalTokenBucket, ManualClock, RateLimitExceeded, createBucketHierarchy } from 'bucketflow';
import * as hierarchicalEntry from 'bucketflow/hierarchical';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** root(100, 10/s) > team(40, 4/s) > user(10, 1/s), and a sibling team2(30, 3/s). */
function tree(init: { root?: number; team?: number; user?: number; team2?: number } = {}) {
  const clock = new ManualClock();
  const root = new HierarchicalTokenBucket({ name: 'root', capacity: 100, fillRate: 10, initialTokens: init.root, clock });
  const team = new HierarchicalTokenBucket({ name: 'team', capacity: 40, fillRate: 4, initialTokens: init.team, parent: root });
  const user = new HierarchicalTokenBucket({ name: 'user', capacity: 10, fillRate: 1, initialTokens: init.user, parent: team });
  const team2 = new HierarchicalTokenBucket({ name: 'team2', capacity: 30, fillRate: 3, initialTokens: init.team2, parent: root });
  const levels = () => [root.tokens, team.tokens, user.tokens, team2.tokens];
  return { clock, root, team, user, team2, levels };
}

describe('HierarchicalTokenBucket structure', () => {
  it('knows its name, parent and children (read-only, in creation order)', () => {
    const { root, team, user, team2 } = tree();
    expect(root.name).toBe('root');
    expect(root.parent).toBeUndefined();
    expect(user.parent).toBe(team);
    expect(root.children).toEqual([team, team2]);
    expect(team.children).toEqual([user]);
    expect(user.children).toEqual([]);
    expect(Object.isFrozen(root.children)).toBe(true);
    expect(() => (root.children as HierarchicalTokenBucket[]).push(user)).toThrow(TypeError);
  });

  it('a child without a clock uses its parent\'s; a different clock is a TypeError and adds no child', () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ capacity: 10, fillRate: 10, initialTokens: 0, clock });
    const child = new HierarchicalTokenBucket({ capacity: 10, fillRate: 10, initialTokens: 0, parent: root });
    clock.advance(300);
    expect(child.tokens).toBeCloseTo(3, 9);
    const same = new HierarchicalTokenBucket({ capacity: 1, fillRate: 1, parent: root, clock });
    expect(() => new HierarchicalTokenBucket({ capacity: 1, fillRate: 1, parent: root, clock: new ManualClock() })).toThrow(TypeError);
    expect(() => new HierarchicalTokenBucket({ capacity: 1, fillRate: 1, parent: root, clock: new ManualClock() })).toThrow(/clock must be the same as the parent's/);
    expect(() => new HierarchicalTokenBucket({ capacity: -1, fillRate: 1, parent: root })).toThrow(RangeError);
    expect(root.children).toEqual([child, same]);
  });

  it('the same class comes from every entry', () => {
    expect(hierarchicalEntry.HierarchicalTokenBucket).toBe(HierarchicalTokenBucket);
    expect(hierarchicalEntry.createBucketHierarchy).toBe(createBucketHierarchy);
  });
});

describe('HierarchicalTokenBucket consume', () => {
  it('takes the tokens from the bucket and every ancestor, and from nobody else', () => {
    const { user, levels } = tree();
    expect(user.consume(5)).toBe(true);
    expect(levels()).toEqual([95, 35, 5, 30]);
    expect(user.consume()).toBe(true); // one by default
    expect(levels()).toEqual([94, 34, 4, 30]);
  });

  it('is all or nothing: a level that is short refuses the call and no level changes', () => {
    const { user, team2, levels } = tree({ team: 3 });
    expect(user.consume(4)).toBe(false); // user (10) and root (100) have them, team (3) does not
    expect(levels()).toEqual([100, 3, 10, 30]);
    expect(team2.consume(30)).toBe(true);
    expect(levels()).toEqual([70, 3, 10, 0]);
  });

  it('a request above any capacity on the chain is false, or RangeError with block, and changes nothing', async () => {
    const { user, team, levels } = tree();
    expect(user.consume(11)).toBe(false);
    expect(() => user.consume(11, { block: true })).toThrow(RangeError);
    expect(() => user.consume(11, { block: true })).toThrow(/exceeds the bucket's capacity \(or an ancestor's\) \(10\)/);
    await expect(user.acquire(11)).rejects.toThrow(RangeError);
    expect(team.consume(41)).toBe(false);
    expect(levels()).toEqual([100, 40, 10, 30]);
    // A child may be configured bigger than its parent: the parent's capacity is what fits.
    const clock = new ManualClock();
    const small = new HierarchicalTokenBucket({ capacity: 2, fillRate: 1, clock });
    const big = new HierarchicalTokenBucket({ capacity: 50, fillRate: 1, parent: small });
    expect(big.consume(3)).toBe(false);
    await expect(big.acquire(3)).rejects.toThrow(/\(2\)/);
  });

  it('refills every level at its own rate, capped at its own capacity', () => {
    const { clock, root, team, user, levels } = tree({ root: 80, team: 0, user: 0 });
    clock.advance(1000);
    expect(levels()).toEqual([90, 4, 1, 30]);
    clock.advance(60_000);
    expect([root.tokens, team.tokens, user.tokens]).toEqual([100, 40, 10]);
  });

  it('timeUntil is about its own level only', () => {
    const { user, team } = tree({ team: 0, user: 10 });
    expect(user.timeUntil(5)).toBe(0);
    expect(team.timeUntil(2)).toBeCloseTo(500, 9);
    expect(user.timeUntil(11)).toBe(Infinity);
  });

  it('consume(0) is true even on empty levels', () => {
    const { user } = tree({ root: 0, team: 0, user: 0 });
    expect(user.consume(0)).toBe(true);
  });

  it('block on a ManualClock is a TypeError when it would sleep, and takes nothing', () => {
    const { user, levels } = tree({ user: 1 });
    expect(() => user.consume(2, { block: true })).toThrow(/ManualClock/);
    expect(levels()).toEqual([100, 40, 1, 30]);
    expect(user.consume(1, { block: true })).toBe(true);
  });

  it('block returns false at once when the slowest level would need longer than maxWait', () => {
    const { user, levels } = tree({ team: 0 });
    expect(user.consume(2, { block: true, maxWait: 400 })).toBe(false); // team needs 500 ms
    expect(levels()).toEqual([100, 0, 10, 30]);
  });

  it('block waits (real time, no spinning) for the slowest level, taking nothing until all have the tokens', () => {
    // root refills 20/s from empty (50 ms per token, counted from its creation); the child is full.
    const t0 = performance.now();
    const root = new HierarchicalTokenBucket({ capacity: 5, fillRate: 20, initialTokens: 0 });
    const child = new HierarchicalTokenBucket({ capacity: 5, fillRate: 1, parent: root });
    const cpu0 = process.cpuUsage();
    expect(child.consume(1, { block: true })).toBe(true);
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    expect(wall).toBeGreaterThanOrEqual(45);
    expect(wall).toBeLessThan(2000);
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(wall * 0.5);
    expect(child.tokens).toBeGreaterThanOrEqual(3.99); // 5 - 1, plus whatever refilled since
    expect(root.tokens).toBeLessThan(4); // the token was taken from the root too
  });

  it('a fixed-quota ancestor makes block return false (it would wait forever)', () => {
    const root = new HierarchicalTokenBucket({ capacity: 5, fillRate: 0, initialTokens: 0 });
    const child = new HierarchicalTokenBucket({ capacity: 5, fillRate: 1, parent: root });
    expect(child.consume(1, { block: true })).toBe(false);
  });
});

describe('HierarchicalTokenBucket acquire', () => {
  it('waits for the slowest level on the chain', async () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ capacity: 10, fillRate: 10, initialTokens: 0, clock }); // 100 ms per token
    const child = new HierarchicalTokenBucket({ capacity: 10, fillRate: 100, initialTokens: 0, parent: root }); // 10 ms
    let at = -1;
    const p = child.acquire(2).then(() => (at = clock.now()));
    clock.advance(100);
    await flush();
    expect(at).toBe(-1);
    clock.advance(100);
    await p;
    expect(at).toBe(200);
    expect(root.tokens).toBeCloseTo(0, 9);
    // The 2 were reserved at 0 (the child went to -2); 20 earned since, capped at 10.
    expect(child.tokens).toBeCloseTo(10, 9);
  });

  it('is first come, first served within a bucket', async () => {
    const { clock, user } = tree({ user: 0 });
    const order: string[] = [];
    const big = user.acquire(5).then(() => order.push(`big@${clock.now()}`));
    const small = user.acquire(1).then(() => order.push(`small@${clock.now()}`));
    expect(user.consume(1)).toBe(false); // the tokens belong to the queue
    clock.advance(4999);
    await flush();
    expect(order).toEqual([]);
    clock.advance(1);
    await big;
    clock.advance(999);
    await flush();
    expect(order).toEqual(['big@5000']);
    clock.advance(1);
    await small;
    expect(order).toEqual(['big@5000', 'small@6000']);
  });

  it('siblings do not queue behind each other; they only wait for tokens the parent really lacks', async () => {
    const { clock, team, user, team2, root } = tree({ user: 0 });
    const sibling = new HierarchicalTokenBucket({ name: 'user2', capacity: 10, fillRate: 1, parent: team });
    let userDone = false;
    const waiting = user.acquire(5).then(() => (userDone = true)); // user is empty: waits 5 s
    expect(sibling.consume(3)).toBe(true); // not held up by user's waiter
    await sibling.acquire(2); // resolves at once
    expect(team2.consume(1)).toBe(true);
    expect(userDone).toBe(false);
    expect(root.tokens).toBe(89); // user's waiter holds its 5 on every level of its chain
    expect(team.tokens).toBe(30);
    expect(user.tokens).toBe(-5);
    clock.advance(5000);
    await waiting;
    expect(userDone).toBe(true);
  });

  it('rejects RateLimitExceeded with the slowest level\'s wait as retryAfter, taking nothing', async () => {
    const { user, levels } = tree({ team: 1 });
    const error = (await user.acquire(3, { maxWait: 100 }).catch((e: unknown) => e)) as RateLimitExceeded;
    expect(error).toBeInstanceOf(RateLimitExceeded);
    expect(error.retryAfter).toBeCloseTo(500, 9); // team: 2 tokens at 4/s
    expect(levels()).toEqual([100, 1, 10, 30]);
    const quota = new HierarchicalTokenBucket({ capacity: 1, fillRate: 0, initialTokens: 0 });
    const never = (await quota.acquire(1).catch((e: unknown) => e)) as RateLimitExceeded;
    expect(never.retryAfter).toBe(Infinity);
  });

  it('a queued waiter holds its tokens on the shared ancestor: a sibling cannot take them, and it is served on time', async () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ capacity: 10, fillRate: 10, initialTokens: 0, clock });
    const a = new HierarchicalTokenBucket({ capacity: 10, fillRate: 10, parent: root });
    const b = new HierarchicalTokenBucket({ capacity: 10, fillRate: 10, parent: root });
    let servedAt = -1;
    const p = a.acquire(5, { maxWait: 600 }).then(() => (servedAt = clock.now()));
    clock.advance(499);
    expect(b.consume(4.9)).toBe(false); // the root's 4.99 earned so far are owed to a's waiter
    await expect(b.acquire(1, { maxWait: 50 })).rejects.toBeInstanceOf(RateLimitExceeded); // 101 ms away
    clock.advance(1);
    await p;
    expect(servedAt).toBe(500);
    expect(b.consume(0.1)).toBe(false);
    clock.advance(10);
    expect(b.consume(0.1)).toBe(true);
  });

  it('abort rejects with signal.reason and takes nothing; the next waiter moves up', async () => {
    const { clock, user, levels } = tree({ user: 0 });
    const ctl = new AbortController();
    const first = user.acquire(5, { signal: ctl.signal });
    let secondAt = -1;
    const second = user.acquire(1).then(() => (secondAt = clock.now()));
    clock.advance(1000);
    ctl.abort('changed my mind');
    await expect(first).rejects.toBe('changed my mind');
    await second;
    expect(secondAt).toBe(1000);
    // The second waiter's token was reserved at 0; root and team have refilled to full since.
    expect(levels()).toEqual([100, 40, 0, 30]);
    await expect(user.acquire(1, { signal: AbortSignal.abort('early') })).rejects.toBe('early');
  });

  it('acquire resolves at once when every level has the tokens', async () => {
    const { user, levels } = tree();
    await user.acquire(4);
    expect(levels()).toEqual([96, 36, 6, 30]);
  });
});

describe('createBucketHierarchy', () => {
  const config = {
    name: 'global',
    capacity: 100,
    fillRate: 10,
    children: [
      { name: 'service1', capacity: 40, fillRate: 4, children: [{ name: 'endpoint1', capacity: 15, fillRate: 1.5 }] },
      { name: 'service2', capacity: 20, fillRate: 2, initialTokens: 5 },
    ],
  } as const;

  it('returns every bucket by name, linked to its parent', () => {
    const buckets = createBucketHierarchy({ ...config, clock: new ManualClock() });
    expect(Object.keys(buckets).sort()).toEqual(['endpoint1', 'global', 'service1', 'service2']);
    expect(buckets.endpoint1.parent).toBe(buckets.service1);
    expect(buckets.service1.parent).toBe(buckets.global);
    expect(buckets.global.parent).toBeUndefined();
    expect(buckets.global.children).toEqual([buckets.service1, buckets.service2]);
    expect(buckets.service2.tokens).toBe(5);
    expect(buckets.endpoint1.fillRate).toBe(1.5);
    expect(buckets.endpoint1.consume(5)).toBe(true);
    expect([buckets.global.tokens, buckets.service1.tokens, buckets.endpoint1.tokens]).toEqual([95, 35, 10]);
  });

  it('the clock at the root is used by every bucket', async () => {
    const clock = new ManualClock();
    const buckets = createBucketHierarchy({ ...config, clock });
    expect(buckets.endpoint1.consume(15)).toBe(true);
    clock.advance(2000);
    expect(buckets.endpoint1.tokens).toBeCloseTo(3, 9);
    const p = buckets.endpoint1.acquire(4);
    clock.advance(667);
    await p;
  });

  it('a name typo is a type error (names are a union of literals)', () => {
    const buckets = createBucketHierarchy(config);
    // @ts-expect-error 'servce1' is not a name in the config
    expect(buckets.servce1).toBeUndefined();
  });

  it.each([
    ['a missing capacity', { name: 'api', capacity: 5, fillRate: 1, children: [{ name: 'search', fillRate: 1 }] }, TypeError, /node "search" \(at api\.children\[0\]\): capacity is required/],
    ['a negative fillRate', { name: 'api', capacity: 5, fillRate: 1, children: [{ name: 'a', capacity: 1, fillRate: 1, children: [{ name: 'deep', capacity: 1, fillRate: -2 }] }] }, RangeError, /node "deep" \(at a\.children\[0\]\): fillRate must be a finite number >= 0, got -2/],
    ['initialTokens above capacity', { name: 'api', capacity: 5, fillRate: 1, initialTokens: 6 }, RangeError, /node "api" \(at the root\): initialTokens must be <= capacity \(5\), got 6/],
    ['a missing name', { name: 'api', capacity: 5, fillRate: 1, children: [{ capacity: 1, fillRate: 1 }] }, TypeError, /node at api\.children\[0\] needs a name/],
    ['an empty name', { name: '', capacity: 5, fillRate: 1 }, TypeError, /node at the root needs a name/],
    ['a duplicate name', { name: 'api', capacity: 5, fillRate: 1, children: [{ name: 'x', capacity: 1, fillRate: 1 }, { name: 'x', capacity: 2, fillRate: 1 }] }, TypeError, /duplicate name "x"/],
    ['a child named like the root', { name: 'api', capacity: 5, fillRate: 1, children: [{ name: 'api', capacity: 1, fillRate: 1 }] }, TypeError, /duplicate name "api"/],
    ['a clock below the root', { name: 'api', capacity: 5, fillRate: 1, children: [{ name: 'x', capacity: 1, fillRate: 1, clock: new ManualClock() }] }, TypeError, /node "x".*unknown option "clock".*clock is allowed only at the root/],
    ['an unknown key', { name: 'api', capacity: 5, fill_rate: 1, fillRate: 1 }, TypeError, /node "api".*unknown option "fill_rate"/],
    ['children that are not an array', { name: 'api', capacity: 5, fillRate: 1, children: { name: 'x' } }, TypeError, /node "api".*children must be an array/],
    ['a child that is not an object', { name: 'api', capacity: 5, fillRate: 1, children: [null] }, TypeError, /node at api\.children\[0\] must be an object, got null/],
    ['a root that is not an object', 'api', TypeError, /node at the root must be an object, got string/],
    ['a bad clock', { name: 'api', capacity: 5, fillRate: 1, clock: { now: 1 } }, TypeError, /node "api".*clock/],
  ] as const)('%s throws an error naming the node', (_s, bad, Err, message) => {
    expect(() => createBucketHierarchy(bad as never)).toThrow(Err);
    expect(() => createBucketHierarchy(bad as never)).toThrow(message);
  });
});
