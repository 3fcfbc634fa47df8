// Bad input must be refused with the right error class, a message that names the option and the
// value, and no change of state. Checked through the public constructors and methods users call.
import { describe, expect, it } from 'vitest';
import { AsyncTokenBucket, HierarchicalTokenBucket, ManualClock, TokenBucket, rateLimit } from 'bucketflow';

type Ctor = (options: Record<string, unknown>) => unknown;

const constructors: [string, Ctor][] = [
  ['TokenBucket', (o) => new TokenBucket(o as never)],
  ['AsyncTokenBucket', (o) => new AsyncTokenBucket(o as never)],
  ['HierarchicalTokenBucket', (o) => new HierarchicalTokenBucket(o as never)],
];

const wrongTypes: [string, unknown, string][] = [
  ['a string', '5', '"5"'],
  ['null', null, 'null'],
  ['an object', {}, 'an object'],
  ['a boolean', true, 'true'],
  ['a bigint', 5n, '5n'],
  ['an array', [5], 'an array'],
  ['a function', () => 5, 'a function'],
];

const badNumbers: [string, number, string][] = [
  ['NaN', Number.NaN, 'NaN'],
  ['Infinity', Infinity, 'Infinity'],
  ['-Infinity', -Infinity, '-Infinity'],
  ['a negative number', -1, '-1'],
];

describe.each(constructors)('%s options', (_name, make) => {
  const base = { capacity: 10, fillRate: 5 };

  for (const option of ['capacity', 'fillRate', 'initialTokens'] as const) {
    it.each(wrongTypes)(`${option} of the wrong type (%s) is a TypeError naming it`, (_what, value, shown) => {
      expect(() => make({ ...base, [option]: value })).toThrow(TypeError);
      expect(() => make({ ...base, [option]: value })).toThrow(new RegExp(`${option} must be a number, got ${escape(shown)}`));
    });

    it.each(badNumbers)(`${option} = %s is a RangeError naming it and the value`, (_what, value, shown) => {
      expect(() => make({ ...base, [option]: value })).toThrow(RangeError);
      expect(() => make({ ...base, [option]: value })).toThrow(new RegExp(`${option} must be a finite number .*got ${escape(shown)}$`));
    });
  }

  it('capacity 0 is a RangeError; fillRate 0 (a fixed quota) and initialTokens 0 are fine', () => {
    expect(() => make({ capacity: 0, fillRate: 1 })).toThrow(/capacity must be a finite number > 0, got 0/);
    expect(() => make({ capacity: 1, fillRate: 0, initialTokens: 0 })).not.toThrow();
  });

  it('initialTokens above capacity is a RangeError naming both', () => {
    expect(() => make({ capacity: 3, fillRate: 1, initialTokens: 4 })).toThrow(RangeError);
    expect(() => make({ capacity: 3, fillRate: 1, initialTokens: 4 })).toThrow(/initialTokens must be <= capacity \(3\), got 4/);
  });

  it('capacity and fillRate are required (TypeError naming the missing option)', () => {
    expect(() => make({ fillRate: 1 })).toThrow(TypeError);
    expect(() => make({ fillRate: 1 })).toThrow(/capacity is required/);
    expect(() => make({ capacity: 1 })).toThrow(/fillRate is required/);
  });

  it('options must be an object', () => {
    for (const o of [undefined, null, 5, 'capacity', [1, 2]]) expect(() => make(o as never)).toThrow(TypeError);
  });

  it('an unknown option (a typo) is a TypeError naming the key', () => {
    expect(() => make({ capacity: 10, fill_rate: 5 })).toThrow(TypeError);
    expect(() => make({ ...base, fill_rate: 5 })).toThrow(/unknown option "fill_rate"/);
  });

  it('clock must have a now() method', () => {
    for (const clock of [null, 5, {}, { now: 5 }]) {
      expect(() => make({ ...base, clock })).toThrow(TypeError);
      expect(() => make({ ...base, clock })).toThrow(/clock/);
    }
  });
});

describe('limits (several limits on one TokenBucket / AsyncTokenBucket)', () => {
  it('rejects an empty or non-array list, and mixing limits with an inline limit', () => {
    expect(() => new TokenBucket({ limits: [] })).toThrow(/limits must be a non-empty array/);
    expect(() => new TokenBucket({ limits: 'x' as never })).toThrow(TypeError);
    expect(() => new TokenBucket({ limits: [{ capacity: 1, fillRate: 1 }], capacity: 1 } as never)).toThrow(/either limits or capacity/);
  });

  it('names the bad entry and option', () => {
    expect(() => new AsyncTokenBucket({ limits: [{ capacity: 1, fillRate: 1 }, { capacity: -2, fillRate: 1 }] }))
      .toThrow(/limits\[1\]: capacity must be a finite number > 0, got -2/);
    expect(() => new TokenBucket({ limits: [{ capacity: 1, fillRate: 1, burst: 3 } as never] })).toThrow(/limits\[0\] has an unknown option "burst"/);
    expect(() => new TokenBucket({ limits: [undefined as never] })).toThrow(/limits\[0\]/);
    expect(() => new TokenBucket({ limits: [null as never] })).toThrow(/limits\[0\]/);
  });
});

// Every method taking a token count or options: the error names the argument and the bucket is unchanged.
describe('method arguments', () => {
  const make = () => {
    const clock = new ManualClock();
    return { clock, sync: new TokenBucket({ capacity: 10, fillRate: 1, initialTokens: 5, clock }), async: new AsyncTokenBucket({ capacity: 10, fillRate: 1, initialTokens: 5, clock }) };
  };

  it.each([
    ['"1"', '1', TypeError, /n must be a number, got "1"/],
    ['NaN', Number.NaN, RangeError, /n must be a finite number >= 0, got NaN/],
    ['-1', -1, RangeError, /n must be a finite number >= 0, got -1/],
    ['Infinity', Infinity, RangeError, /got Infinity/],
  ] as const)('TokenBucket.consume(%s) throws and takes nothing', (_s, n, Err, message) => {
    const { sync } = make();
    expect(() => sync.consume(n as never)).toThrow(Err);
    expect(() => sync.consume(n as never, { block: true })).toThrow(message);
    expect(() => sync.timeUntil(n as never)).toThrow(Err);
    expect(sync.tokens).toBe(5);
  });

  it.each([
    ['block: "yes"', { block: 'yes' }, TypeError, /block must be a boolean, got "yes"/],
    ['maxWait: -1', { maxWait: -1 }, RangeError, /maxWait must be a number of milliseconds >= 0, got -1/],
    ['maxWait: NaN', { maxWait: Number.NaN }, RangeError, /maxWait .* got NaN/],
    ['maxWait: "1"', { maxWait: '1' }, TypeError, /maxWait must be a number, got "1"/],
    ['an unknown key', { wait: 1 }, TypeError, /unknown option "wait"/],
    ['a non-object', 5, TypeError, /options must be an options object, got 5/],
  ] as const)('TokenBucket.consume(3, %s) throws and takes nothing', (_s, options, Err, message) => {
    const { sync } = make();
    expect(() => sync.consume(3, options as never)).toThrow(Err);
    expect(() => sync.consume(3, options as never)).toThrow(message);
    expect(sync.tokens).toBe(5);
  });

  it.each([
    ['n = -1', -1, undefined, RangeError, /n must be/],
    ['n = "2"', '2', undefined, TypeError, /n must be a number/],
    ['maxWait: -5', 3, { maxWait: -5 }, RangeError, /maxWait .* got -5/],
    ['signal: {}', 3, { signal: {} }, TypeError, /signal must be an AbortSignal, got an object/],
    ['an unknown key', 3, { timeout: 5 }, TypeError, /unknown option "timeout"/],
  ] as const)('acquire with %s rejects (never throws) and takes nothing', async (_s, n, options, Err, message) => {
    const { sync, async } = make();
    for (const b of [sync, async]) {
      const p = b.acquire(n as never, options as never);
      expect(p).toBeInstanceOf(Promise);
      await expect(p).rejects.toThrow(Err);
      await expect(b.acquire(n as never, options as never)).rejects.toThrow(message);
      expect(b.tokens).toBe(5);
    }
  });

  it('AsyncTokenBucket.consume rejects bad arguments and takes nothing', async () => {
    const { async } = make();
    await expect(async.consume(-1)).rejects.toThrow(RangeError);
    await expect(async.consume(1, { block: 1 as never })).rejects.toThrow(/block must be a boolean, got 1/);
    await expect(async.consume(1, { block: true, maxWait: -1 })).rejects.toThrow(/maxWait/);
    await expect(async.consume(1, { block: true, signal: 'x' as never })).rejects.toThrow(/signal must be an AbortSignal, got "x"/);
    await expect(async.consume(1, { blocking: true } as never)).rejects.toThrow(/unknown option "blocking"/);
    await expect(async.consume(1, 'fast' as never)).rejects.toThrow(TypeError);
    expect(async.tokens).toBe(5);
  });

  it('HierarchicalTokenBucket methods validate the same way and change no level', async () => {
    const clock = new ManualClock();
    const root = new HierarchicalTokenBucket({ name: 'root', capacity: 10, fillRate: 1, clock });
    const leaf = new HierarchicalTokenBucket({ name: 'leaf', capacity: 5, fillRate: 1, parent: root });
    expect(() => leaf.consume(-1)).toThrow(RangeError);
    expect(() => leaf.consume(1, { block: 'no' as never })).toThrow(/block must be a boolean/);
    expect(() => leaf.consume(1, { maxWait: Number.NaN })).toThrow(/maxWait/);
    expect(() => leaf.timeUntil('1' as never)).toThrow(TypeError);
    await expect(leaf.acquire(Number.NaN)).rejects.toThrow(RangeError);
    await expect(leaf.acquire(1, { signal: 5 as never })).rejects.toThrow(/signal/);
    expect([root.tokens, leaf.tokens]).toEqual([10, 5]);
  });

  it('HierarchicalTokenBucket name and parent are checked', () => {
    expect(() => new HierarchicalTokenBucket({ capacity: 1, fillRate: 1, name: 5 as never })).toThrow(/name must be a string/);
    expect(() => new HierarchicalTokenBucket({ capacity: 1, fillRate: 1, parent: {} as never })).toThrow(/parent must be a HierarchicalTokenBucket/);
    expect(() => new HierarchicalTokenBucket({ name: 'api', capacity: -1, fillRate: 1 })).toThrow(/bucket "api": capacity must be a finite number > 0, got -1/);
  });
});

describe('rateLimit options', () => {
  it.each([
    ['tokensPerSecond: -1', { tokensPerSecond: -1 }, RangeError, /tokensPerSecond must be a finite number >= 0, got -1/],
    ['tokensPerSecond: NaN', { tokensPerSecond: Number.NaN }, RangeError, /tokensPerSecond .* got NaN/],
    ['tokensPerSecond: Infinity', { tokensPerSecond: Infinity }, RangeError, /tokensPerSecond .* got Infinity/],
    ['tokensPerSecond: "2"', { tokensPerSecond: '2' }, TypeError, /tokensPerSecond must be a number, got "2"/],
    ['no rate and no bucket', {}, TypeError, /tokensPerSecond is required/],
    ['capacity: 0', { tokensPerSecond: 1, capacity: 0 }, RangeError, /capacity must be a finite number > 0, got 0/],
    ['tokens: -1', { tokensPerSecond: 1, tokens: -1 }, RangeError, /tokens must be a finite number >= 0, got -1/],
    ['block: "no"', { tokensPerSecond: 1, block: 'no' }, TypeError, /block must be a boolean, got "no"/],
    ['maxWait: -1', { tokensPerSecond: 1, maxWait: -1 }, RangeError, /maxWait .* got -1/],
    ['an unknown key', { tokensPerSecond: 1, tokens_per_second: 1 }, TypeError, /unknown option "tokens_per_second"/],
    ['bucket: {}', { bucket: {} }, TypeError, /bucket must be a bucket of this library/],
    ['bucket: null', { bucket: null }, TypeError, /bucket must be/],
  ] as const)('%s throws when rateLimit is called', (_s, options, Err, message) => {
    expect(() => rateLimit(options as never)).toThrow(Err);
    expect(() => rateLimit(options as never)).toThrow(message);
  });

  it('options are required and must be an object', () => {
    expect(() => rateLimit(undefined as never)).toThrow(TypeError);
    expect(() => rateLimit(5 as never)).toThrow(TypeError);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
