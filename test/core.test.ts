// The core on its own, in the style of x/time/rate's tests: a table of steps on a chain of limits
// kept in plain arrays, each step with the answer and the levels it must leave.

import { describe, expect, it } from 'vitest';
import { advance, headWait, lowest, refund, reserve, waitAll, type Limits } from '../src/core/limits.js';

/** A chain in plain arrays; rates in tokens per second, as users give them. */
interface Chain {
  capacity: number[];
  perMs: number[];
  level: number[];
  last: number[];
}

const ARRAYS: Limits<Chain> = {
  count: (c) => c.capacity.length,
  capacity: (c, i) => c.capacity[i]!,
  perMs: (c, i) => c.perMs[i]!,
  level: (c, i) => c.level[i]!,
  last: (c, i) => c.last[i]!,
  set: (c, i, level, last) => {
    c.level[i] = level;
    c.last[i] = last;
  },
};

const chain = (...limits: [capacity: number, perSecond: number, level?: number][]): Chain => ({
  capacity: limits.map(([c]) => c),
  perMs: limits.map(([, r]) => r / 1000),
  level: limits.map(([c, , l]) => l ?? c),
  last: limits.map(() => 0),
});

type Step =
  | { at: number; reserve: number; maxWait: number; wait: number; levels: number[] }
  | { at: number; refund: number; levels: number[] }
  | { at: number; waitFor: number; wait: number };

interface Case {
  name: string;
  chain: () => Chain;
  steps: Step[];
}

const cases: Case[] = [
  {
    name: 'takes what is there, refuses what is not, changing nothing',
    chain: () => chain([10, 1]),
    steps: [
      { at: 0, reserve: 4, maxWait: 0, wait: 0, levels: [6] },
      { at: 0, reserve: 7, maxWait: 0, wait: 1000, levels: [6] },
      { at: 0, reserve: 6, maxWait: 0, wait: 0, levels: [0] },
    ],
  },
  {
    name: 'refills at the rate, up to capacity',
    chain: () => chain([10, 2, 0]),
    steps: [
      { at: 1500, reserve: 3, maxWait: 0, wait: 0, levels: [0] },
      { at: 100_000, reserve: 0, maxWait: 0, wait: 0, levels: [10] },
    ],
  },
  {
    name: 'reserves within maxWait by going into debt; later requests see the debt',
    chain: () => chain([4, 2, 0]),
    steps: [
      { at: 0, reserve: 2, maxWait: 1000, wait: 1000, levels: [-2] },
      { at: 0, reserve: 1, maxWait: 1000, wait: 1500, levels: [-2] },
      { at: 0, reserve: 1, maxWait: 1500, wait: 1500, levels: [-3] },
      { at: 1500, waitFor: 0, wait: 0 },
      { at: 1500, reserve: 0.5, maxWait: 0, wait: 250, levels: [0] },
    ],
  },
  {
    name: 'never: a fixed quota refuses every wait with Infinity',
    chain: () => chain([3, 0, 1]),
    steps: [
      { at: 0, reserve: 1, maxWait: Infinity, wait: 0, levels: [0] },
      { at: 1e9, reserve: 1, maxWait: Infinity, wait: Infinity, levels: [0] },
    ],
  },
  {
    name: 'several limits: all or nothing, the longest wait',
    chain: () => chain([10, 10], [3, 0.5]),
    steps: [
      { at: 0, reserve: 3, maxWait: 0, wait: 0, levels: [7, 0] },
      { at: 0, reserve: 1, maxWait: 0, wait: 2000, levels: [7, 0] },
      { at: 1000, reserve: 1, maxWait: 1000, wait: 1000, levels: [9, -0.5] },
      { at: 1000, waitFor: 1, wait: 3000 },
    ],
  },
  {
    name: 'a refund gives a reservation back, never above capacity',
    chain: () => chain([5, 1, 0], [100, 1, 100]),
    steps: [
      { at: 0, reserve: 3, maxWait: 10_000, wait: 3000, levels: [-3, 97] },
      { at: 1000, refund: 3, levels: [1, 100] },
    ],
  },
  {
    name: 'a clock that steps back adds and removes nothing',
    chain: () => chain([10, 1, 5]),
    steps: [
      { at: 2000, reserve: 1, maxWait: 0, wait: 0, levels: [6] },
      { at: 1000, reserve: 1, maxWait: 0, wait: 0, levels: [5] },
      { at: 2500, reserve: 0, maxWait: 0, wait: 0, levels: [5.5] },
    ],
  },
  {
    name: 'a float hair within EPSILON counts as covered and is kept as debt',
    chain: () => chain([1, 0, 0.3]),
    steps: [
      { at: 0, reserve: 0.1 + 0.2, maxWait: 0, wait: 0, levels: [0.3 - (0.1 + 0.2)] },
      { at: 0, reserve: 1e-9, maxWait: 0, wait: Infinity, levels: [0.3 - (0.1 + 0.2)] },
    ],
  },
  {
    name: 'at epoch-millisecond clock values every wait is reachable',
    chain: () => {
      const c = chain([1, 3, 0]);
      c.last = [1.7e12];
      return c;
    },
    steps: [
      { at: 1.7e12, reserve: 1, maxWait: Infinity, wait: 1000 / 3, levels: [-1] },
      { at: 1.7e12 + 1000 / 3, waitFor: 0, wait: 0 },
    ],
  },
];

describe('core: reserve, refund and waits over a chain of limits', () => {
  for (const c of cases) {
    it(c.name, () => {
      const s = c.chain();
      c.steps.forEach((step, i) => {
        const where = `step ${i} at ${step.at}`;
        if ('reserve' in step) {
          expect(reserve(ARRAYS, s, step.reserve, step.maxWait, step.at), where).toBeCloseTo(step.wait, 9);
          step.levels.forEach((l, j) => expect(s.level[j], `${where}, level ${j}`).toBeCloseTo(l, 9));
        } else if ('refund' in step) {
          refund(ARRAYS, s, step.refund, step.at);
          step.levels.forEach((l, j) => expect(s.level[j], `${where}, level ${j}`).toBeCloseTo(l, 9));
        } else {
          advance(ARRAYS, s, step.at);
          expect(waitAll(ARRAYS, s, step.waitFor, step.at), where).toBeCloseTo(step.wait, 9);
        }
      });
    });
  }

  it('a wait of Infinity compares as refused whatever maxWait is', () => {
    const s = chain([1, 0, 0]);
    expect(reserve(ARRAYS, s, 1, Infinity, 0)).toBe(Infinity);
    expect(s.level).toEqual([0]);
  });

  it('headWait: 0 at the planned time, sooner when the queue holds what the levels lack, never before', () => {
    const s = chain([4, 2, 0]);
    expect(reserve(ARRAYS, s, 2, Infinity, 0)).toBe(1000); // head: 2, earned at 1000
    expect(reserve(ARRAYS, s, 2, Infinity, 0)).toBe(2000); // behind it: 2, earned at 2000
    expect(headWait(ARRAYS, s, 2, 1000, 500, 4)).toBe(500);
    expect(headWait(ARRAYS, s, 2, 1000, 1000, 4)).toBe(0);
    // The head gave up: its 2 go back; the next one, planned for 2000, is now due at 1000.
    refund(ARRAYS, s, 2, 500);
    expect(headWait(ARRAYS, s, 2, 2000, 500, 2)).toBe(500);
    expect(headWait(ARRAYS, s, 2, 2000, 1000, 2)).toBe(0);
    expect(lowest(ARRAYS, s)).toBeCloseTo(0, 9);
  });
});
