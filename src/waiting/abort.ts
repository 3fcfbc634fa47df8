// One 'abort' listener per AbortSignal, however many waiters share the signal. A request-scoped
// signal passed to many `acquire` calls is normal use, and Node warns
// (MaxListenersExceededWarning) once a signal has more than 10 listeners of its own.

interface Listeners {
  readonly callbacks: Set<() => void>;
  readonly dispatch: () => void;
}

const bySignal = new WeakMap<AbortSignal, Listeners>();

/** Calls `callback` when `signal` aborts (once), unless {@link offAbort} removes it first. */
export function onAbort(signal: AbortSignal, callback: () => void): void {
  let entry = bySignal.get(signal);
  if (entry === undefined) {
    const callbacks = new Set<() => void>();
    const dispatch = (): void => {
      bySignal.delete(signal);
      // In registration order: the waiters of one queue are cancelled first come, first served.
      for (const cb of callbacks) cb();
    };
    entry = { callbacks, dispatch };
    bySignal.set(signal, entry);
    signal.addEventListener('abort', dispatch, { once: true });
  }
  entry.callbacks.add(callback);
}

/** Removes a callback added by {@link onAbort}; the signal's one listener goes with its last one. */
export function offAbort(signal: AbortSignal, callback: () => void): void {
  const entry = bySignal.get(signal);
  if (entry === undefined || !entry.callbacks.delete(callback)) return;
  if (entry.callbacks.size === 0) {
    bySignal.delete(signal);
    signal.removeEventListener('abort', entry.dispatch);
  }
}
