/**
 * Makes the named own properties of `target` read-only at run time, as their `readonly` types
 * already say: a bucket's `capacity` or a hierarchy's `parent` reassigned from plain JavaScript
 * would otherwise change what users read but not what the bucket enforces.
 */
export function lockFields<T extends object>(target: T, names: readonly (keyof T & string)[]): void {
  for (const name of names) Object.defineProperty(target, name, { writable: false, configurable: false });
}

/**
 * As {@link lockFields}, for fields that only the bucket itself changes (its limits, through
 * `setLimits`): read-only to users, replaced by {@link replaceField}.
 */
export function lockChangeable<T extends object>(target: T, names: readonly (keyof T & string)[]): void {
  for (const name of names) Object.defineProperty(target, name, { writable: false, configurable: true });
}

/** Gives a field locked by {@link lockChangeable} a new value. */
export function replaceField<T extends object, K extends keyof T & string>(target: T, name: K, value: T[K]): void {
  Object.defineProperty(target, name, { value, writable: false, configurable: true });
}
