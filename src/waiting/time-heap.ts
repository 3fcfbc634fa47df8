// A min-heap of (time, value): what a single timer needs to know when to fire next, however many
// things wait on it. Equal times come out in the order they went in.

interface Entry<T> {
  readonly at: number;
  readonly seq: number;
  readonly value: T;
}

export class TimeHeap<T> {
  #heap: Entry<T>[] = [];
  #seq = 0;

  get size(): number {
    return this.#heap.length;
  }

  /** The earliest time in the heap (`Infinity` when empty). */
  get nextAt(): number {
    return this.#heap[0]?.at ?? Infinity;
  }

  /** The value with the earliest time (`undefined` when empty). */
  peek(): T | undefined {
    return this.#heap[0]?.value;
  }

  push(at: number, value: T): void {
    const e: Entry<T> = { at, seq: this.#seq++, value };
    const h = this.#heap;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(e, h[parent]!)) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = e;
  }

  /** Removes the entry with the earliest time and returns its value. */
  pop(): T | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || h.length === 0) return top?.value;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && before(h[r]!, h[l]!) ? r : l;
      if (!before(h[c]!, last!)) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last!;
    return top.value;
  }

  clear(): void {
    this.#heap = [];
  }
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
