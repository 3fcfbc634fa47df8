// Which calling convention a limiter has: a single bucket (`acquire(n, options)`), a keyed
// limiter (`acquire(key, n, options)`) or a semaphore (`acquire(options)`, resolving a lease). The two look alike to a duck-typing check, and one passed
// where the other is expected fails only later (a key read as a token count), so options that take
// a limiter check the mark. Symbol.for: the ESM and CommonJS builds mark alike.

const KIND = Symbol.for('bucketflow.kind');

export type LimiterKind = 'single' | 'keyed' | 'semaphore';

/** Marks every instance of `cls` as a limiter of `kind`. */
export function markKind(cls: abstract new (...args: never[]) => object, kind: LimiterKind): void {
  Object.defineProperty(cls.prototype, KIND, { value: kind });
}

/** The kind a limiter of this library was marked with; `undefined` for anything else. */
export function kindOf(value: unknown): LimiterKind | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  return (value as { [KIND]?: LimiterKind })[KIND];
}
