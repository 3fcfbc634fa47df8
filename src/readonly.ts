/**
 * Makes the named own properties of `target` read-only at run time, as their `readonly` types
 * already say: a bucket's `capacity` or a hierarchy's `parent` reassigned from plain JavaScript
 * would otherwise change what users read but not what the bucket enforces.
 */
export function lockFields<T extends object>(target: T, names: readonly (keyof T & string)[]): void {
  for (const name of names) Object.defineProperty(target, name, { writable: false, configurable: false });
}
