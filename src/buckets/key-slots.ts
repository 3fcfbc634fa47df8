// Where a keyed limiter keeps its keys: one slot of numbers per key in one growing Float64Array,
// and one Map entry from the key to its slot, so a key costs no object of its own. Slots of
// forgotten keys are reused. What a slot holds, and when a key may be forgotten, is the owner's
// business (the callbacks below).

/** What the owner of the slots decides. */
export interface SlotPolicy {
  /** Whether `slot`'s key can be forgotten now (its bucket is as good as new). */
  forgettable(slot: number, now: number): boolean;
  /** Whether `slot`'s key is in use and must be kept even to make room (it has waiters). */
  inUse(slot: number): boolean;
  /** `slot`'s key was forgotten. */
  forgot(slot: number): void;
  /**
   * Fills the numbers of `key`'s new slot (at `slot * stride` in the state, read after this is
   * called: it may {@link KeySlots.widen} the slots). If it throws, the key is not remembered.
   */
  init(slot: number, now: number, key: string): void;
}

// Each new key examines this many remembered keys for ones that can be forgotten. With 2, the
// scan passes every entry at least once per (entries / 2) new keys, which bounds the map at twice
// the keys active within one refill period (see README, "memory").
const SWEEP_PER_NEW_KEY = 2;

export class KeySlots {
  /** Numbers per slot. */
  stride: number;
  readonly #maxKeys: number;
  readonly #policy: SlotPolicy;
  /** Map order is least recently used first when `maxKeys` is set (a hit re-inserts the key). */
  readonly #lru: boolean;
  readonly #slots = new Map<string, number>();
  #state: Float64Array;
  #used = 0;
  readonly #free: number[] = [];
  /** Round-robin sweep position: a live Map iterator survives deletes and sees appended keys. */
  #cursor: MapIterator<[string, number]> | undefined;

  constructor(stride: number, maxKeys: number, policy: SlotPolicy) {
    this.stride = stride;
    this.#maxKeys = maxKeys;
    this.#policy = policy;
    this.#lru = maxKeys !== Infinity;
    this.#state = new Float64Array(64 * stride);
  }

  /** Every slot's numbers, slot `s` at `s * stride`. Replaced when it grows: read it after `slotOf`. */
  get state(): Float64Array {
    return this.#state;
  }

  /** Keys remembered now. */
  get size(): number {
    return this.#slots.size;
  }

  /** The slot of `key` if it is remembered (without counting as a use). */
  find(key: string): number | undefined {
    return this.#slots.get(key);
  }

  /** Every remembered slot. */
  values(): MapIterator<number> {
    return this.#slots.values();
  }

  /**
   * The slot of `key`, counted as a use. A new key gets a slot filled by the policy's `init`; -1
   * if `maxKeys` leaves no room (every remembered key is in use).
   */
  slotOf(key: string, now: number): number {
    const slot = this.#slots.get(key);
    if (slot !== undefined) {
      if (this.#lru) {
        this.#slots.delete(key);
        this.#slots.set(key, slot);
      }
      return slot;
    }
    this.#sweep(now);
    if (this.#slots.size >= this.#maxKeys && !this.#evict()) return -1;
    const fresh = this.#free.length > 0 ? this.#free.pop()! : this.#grow();
    try {
      this.#policy.init(fresh, now, key);
    } catch (error) {
      this.#free.push(fresh);
      throw error;
    }
    this.#slots.set(key, fresh);
    return fresh;
  }

  /** Every remembered key and its slot. */
  entries(): MapIterator<[string, number]> {
    return this.#slots.entries();
  }

  /**
   * Makes every slot `stride` numbers long (more than now), each slot's numbers kept at the
   * same place from its start: offsets read before this are stale after it.
   */
  widen(stride: number): void {
    const old = this.stride;
    const wider = new Float64Array((this.#state.length / old) * stride);
    for (let slot = 0; slot < this.#used; slot++) wider.set(this.#state.subarray(slot * old, (slot + 1) * old), slot * stride);
    this.#state = wider;
    this.stride = stride;
  }

  /** Forgets `key` (whose slot is `slot`): its slot is free for another key. */
  forget(key: string, slot: number): void {
    this.#slots.delete(key);
    this.#free.push(slot);
    this.#policy.forgot(slot);
  }

  #grow(): number {
    const slot = this.#used++;
    if ((slot + 1) * this.stride > this.#state.length) {
      const bigger = new Float64Array(this.#state.length * 2);
      bigger.set(this.#state);
      this.#state = bigger;
    }
    return slot;
  }

  /** Examines the next few remembered keys and forgets those that can be. */
  #sweep(now: number): void {
    for (let i = 0; i < SWEEP_PER_NEW_KEY; i++) {
      let step = this.#cursor?.next();
      if (step === undefined || step.done === true) {
        this.#cursor = this.#slots.entries();
        step = this.#cursor.next();
        if (step.done === true) return;
      }
      const [key, slot] = step.value;
      if (this.#policy.forgettable(slot, now)) this.forget(key, slot);
    }
  }

  /**
   * Makes room for one key by forgetting the least recently used one not in use (keys in use
   * move to the back). False if every remembered key is in use.
   */
  #evict(): boolean {
    for (let tries = this.#slots.size; tries > 0; tries--) {
      const first = this.#slots.entries().next();
      if (first.done === true) return true;
      const [key, slot] = first.value;
      if (!this.#policy.inUse(slot)) {
        this.forget(key, slot);
        return true;
      }
      this.#slots.delete(key);
      this.#slots.set(key, slot);
    }
    return false;
  }
}
