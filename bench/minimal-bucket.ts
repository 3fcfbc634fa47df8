// The physical limit of an in-memory token bucket: four fields, one clock read, a few float ops
// and a compare. No validation, no options, no waiting. Every local row is compared with this.
//
// It reads the clock the cheapest way Node offers: `performance.now()` on a held `performance`
// object (Node 20 resolves the global `performance` through a getter on every access).
const perf = performance;

export class MinimalBucket {
  capacity: number;
  perMs: number;
  level: number;
  last: number;

  /** @param fillRate tokens per second */
  constructor(capacity: number, fillRate: number, initial = capacity) {
    this.capacity = capacity;
    this.perMs = fillRate / 1000;
    this.level = initial;
    this.last = perf.now();
  }

  consume(n = 1): boolean {
    const now = perf.now();
    let level = this.level + (now - this.last) * this.perMs;
    if (level > this.capacity) level = this.capacity;
    this.last = now;
    if (level < n) {
      this.level = level;
      return false;
    }
    this.level = level - n;
    return true;
  }
}

