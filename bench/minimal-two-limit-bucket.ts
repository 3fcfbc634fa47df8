// The physical limit of a bucket with two limits (say per second and per minute), charged all or
// nothing: one clock read, both levels refilled, both compared, both committed. No validation, no
// options, no waiting, no loop over a list of limits. The several-limits rows compare with this.
const perf = performance;

/** One limit of the minimal bucket. */
export interface MinimalLimit {
  capacity: number;
  /** tokens per second */
  fillRate: number;
}

export class MinimalTwoLimitBucket {
  capacityA: number;
  perMsA: number;
  levelA: number;
  capacityB: number;
  perMsB: number;
  levelB: number;
  last: number;

  constructor(a: MinimalLimit, b: MinimalLimit) {
    this.capacityA = a.capacity;
    this.perMsA = a.fillRate / 1000;
    this.levelA = a.capacity;
    this.capacityB = b.capacity;
    this.perMsB = b.fillRate / 1000;
    this.levelB = b.capacity;
    this.last = perf.now();
  }

  consume(n = 1): boolean {
    const now = perf.now();
    const elapsed = now - this.last;
    this.last = now;
    let a = this.levelA + elapsed * this.perMsA;
    if (a > this.capacityA) a = this.capacityA;
    let b = this.levelB + elapsed * this.perMsB;
    if (b > this.capacityB) b = this.capacityB;
    if (a < n || b < n) {
      this.levelA = a;
      this.levelB = b;
      return false;
    }
    this.levelA = a - n;
    this.levelB = b - n;
    return true;
  }
}
