// How long a shared bucket was being asked, from what several processes report: what a test's
// lower bound on admissions may count from. A loaded machine stops processes now and then (and a
// server may start answering late); a bucket nobody asks fills up and then loses what it earns.

/** One process's asking: from its first request to its last, less the stretches it was idle. */
export interface Asking {
  readonly from: number;
  readonly to: number;
  readonly idle: readonly (readonly [number, number])[];
}

/** Milliseconds in which some process was asking: the union of their busy stretches. */
export function askingMs(processes: readonly Asking[]): number {
  const busy: [number, number][] = [];
  for (const p of processes) {
    let from = p.from;
    for (const [idleFrom, idleTo] of p.idle) {
      if (idleFrom > from) busy.push([from, idleFrom]);
      from = idleTo;
    }
    if (p.to > from) busy.push([from, p.to]);
  }
  busy.sort((a, b) => a[0] - b[0]);
  let total = 0;
  let end = -Infinity;
  for (const [from, to] of busy) {
    if (to <= end) continue;
    total += to - Math.max(from, end);
    end = to;
  }
  return total;
}
