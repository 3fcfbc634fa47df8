// The memory a SharedTokenBucket lives in, shared by every thread that attached to it: its layout,
// the lock around every change, and the core's view of its limits.

import { advance, type Limits } from '../core/limits.js';
import type { LimitShape } from '../validate.js';
import { threadCanBlock } from '../waiting/sleep.js';

// Int32 words: [0] lock (0 free, 1 held, 2 held with sleepers), [1] a tag telling a bucket buffer
// from any other, [2] the number of limits, [3] how many times the limits were changed (each thread
// re-reads the rates when it sees a new count). From byte 16, Float64: the time of the last refill,
// the time of the last change of limits, then per limit its capacity, fillRate, initialTokens and level.
const LOCK = 0;
const TAG = 1;
const COUNT = 2;
const VERSION = 3;
const TAG_VALUE = 0x62666c32; // "bfl2": bumped if the layout ever changes
const LAST = 2; // Float64 index (byte 16)
const CHANGED_AT = 3;
const FIRST_LIMIT = 4;
const PER_LIMIT = 4;
const CAPACITY = 0;
const FILL_RATE = 1;
const INITIAL = 2;
const LEVEL = 3;
// A critical section is a few float operations: spinning briefly beats parking the thread.
const SPINS = 64;

/** The core's view of a shared buffer's limits; read and write it only holding the lock. */
export let BUFFER: Limits<SharedBuffer>;

export class SharedBuffer {
  /** The shared memory itself, to post to other threads. */
  readonly handle: SharedArrayBuffer;
  /** Number of limits. */
  readonly count: number;
  /** Refill rate of each limit in tokens per millisecond, as of {@link SharedBuffer.version}. */
  perMs: Float64Array;
  /** The limits' change count this thread last read them at. */
  version: number;
  readonly #lock: Int32Array;
  readonly #f: Float64Array;

  private constructor(handle: SharedArrayBuffer) {
    this.handle = handle;
    this.#lock = new Int32Array(handle, 0, 4);
    this.#f = new Float64Array(handle);
    this.count = this.#lock[COUNT]!;
    this.version = Atomics.load(this.#lock, VERSION);
    this.perMs = this.#rates();
  }

  #rates(): Float64Array {
    return Float64Array.from({ length: this.count }, (_, i) => this.#f[FIRST_LIMIT + PER_LIMIT * i + FILL_RATE]! / 1000);
  }

  /** How many times the limits were changed, by any thread (read without the lock). */
  get changes(): number {
    return Atomics.load(this.#lock, VERSION);
  }

  /**
   * Sets new limits (as many as before), holding the lock: levels refilled to `now` at the old
   * rates first, each cut to its new capacity. Other threads read the new rates at their next
   * operation.
   */
  setLimits(limits: readonly LimitShape[], now: number): void {
    this.locked(() => {
      advance(BUFFER, this, now);
      limits.forEach((l, i) => {
        const at = FIRST_LIMIT + PER_LIMIT * i;
        this.#f[at + CAPACITY] = l.capacity;
        this.#f[at + FILL_RATE] = l.fillRate;
        this.#f[at + INITIAL] = l.initialTokens;
        if (this.#f[at + LEVEL]! > l.capacity) this.#f[at + LEVEL] = l.capacity;
      });
      this.#f[CHANGED_AT] = now;
      this.#lock[VERSION] = this.#lock[VERSION]! + 1;
      this.#refresh();
    });
  }

  /** Clock time of the last change of limits (read holding the lock). */
  get changedAt(): number {
    return this.#f[CHANGED_AT]!;
  }

  #refresh(): void {
    this.version = this.#lock[VERSION]!;
    this.perMs = this.#rates();
  }

  /** New shared memory holding `limits` at their initial levels, last refilled at `now`. */
  static create(limits: readonly LimitShape[], now: number): SharedBuffer {
    const handle = new SharedArrayBuffer(8 * (FIRST_LIMIT + PER_LIMIT * limits.length));
    const words = new Int32Array(handle, 0, 4);
    const f = new Float64Array(handle);
    words[COUNT] = limits.length;
    f[LAST] = now;
    limits.forEach((l, i) => {
      const at = FIRST_LIMIT + PER_LIMIT * i;
      f[at + CAPACITY] = l.capacity;
      f[at + FILL_RATE] = l.fillRate;
      f[at + INITIAL] = l.initialTokens;
      f[at + LEVEL] = l.initialTokens;
    });
    Atomics.store(words, TAG, TAG_VALUE); // published last: the buffer is complete
    return new SharedBuffer(handle);
  }

  /** The buffer behind `handle`, which must be a SharedTokenBucket's. */
  static attach(handle: unknown): SharedBuffer {
    checkShared();
    if (!(handle instanceof SharedArrayBuffer)) {
      throw new TypeError('handle must be the SharedArrayBuffer of a SharedTokenBucket (bucket.handle)');
    }
    const words = handle.byteLength >= 24 ? new Int32Array(handle, 0, 4) : undefined;
    const count = words === undefined ? 0 : words[COUNT]!;
    if (words === undefined || Atomics.load(words, TAG) !== TAG_VALUE || count < 1
      || handle.byteLength !== 8 * (FIRST_LIMIT + PER_LIMIT * count)) {
      throw new TypeError('handle is not the SharedArrayBuffer of a SharedTokenBucket (bucket.handle)');
    }
    return new SharedBuffer(handle);
  }

  /** The limits as configured. */
  limits(): LimitShape[] {
    const f = this.#f;
    return Array.from({ length: this.count }, (_, i) => {
      const at = FIRST_LIMIT + PER_LIMIT * i;
      return { capacity: f[at + CAPACITY]!, fillRate: f[at + FILL_RATE]!, initialTokens: f[at + INITIAL]! };
    });
  }

  /** Runs `fn` holding the lock: no other thread reads or writes the buffer meanwhile. */
  locked<T>(fn: () => T): T {
    this.#enter();
    if (this.#lock[VERSION] !== this.version) this.#refresh();
    try {
      return fn();
    } finally {
      this.#leave();
    }
  }

  static {
    BUFFER = {
      count: (b) => b.count,
      capacity: (b, i) => b.#f[FIRST_LIMIT + PER_LIMIT * i + CAPACITY]!,
      perMs: (b, i) => b.perMs[i]!,
      level: (b, i) => b.#f[FIRST_LIMIT + PER_LIMIT * i + LEVEL]!,
      last: (b) => b.#f[LAST]!,
      set: (b, i, level, last) => {
        b.#f[FIRST_LIMIT + PER_LIMIT * i + LEVEL] = level;
        if (i === b.count - 1) b.#f[LAST] = last; // one refill time for all limits: after each read it
      },
    };
  }

  // The lock: compare-and-swap to take it, a short spin, then Atomics.wait on the word
  // (0 free, 1 held, 2 held and someone may sleep on it, as in Drepper's "Futexes Are Tricky").
  #enter(): void {
    const lock = this.#lock;
    if (Atomics.compareExchange(lock, LOCK, 0, 1) === 0) return;
    for (let i = 0; i < SPINS; i++) {
      if (Atomics.load(lock, LOCK) === 0 && Atomics.compareExchange(lock, LOCK, 0, 1) === 0) return;
    }
    // A thread that may not block (a cross-origin isolated page's main thread) spins instead: the
    // lock is held for a few float operations at a time.
    const sleep = threadCanBlock();
    while (Atomics.exchange(lock, LOCK, 2) !== 0) if (sleep) Atomics.wait(lock, LOCK, 2);
  }

  #leave(): void {
    const lock = this.#lock;
    if (Atomics.sub(lock, LOCK, 1) !== 1) {
      Atomics.store(lock, LOCK, 0);
      Atomics.notify(lock, LOCK, 1);
    }
  }
}

/** Without SharedArrayBuffer there is no memory to share: say so rather than fail on a missing name. */
export function checkShared(): void {
  if (typeof SharedArrayBuffer !== 'function') {
    throw new TypeError('SharedTokenBucket needs SharedArrayBuffer, which this context lacks '
      + '(a browser page has it only when cross-origin isolated)');
  }
}
