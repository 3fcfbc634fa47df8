// Turns the rounds' samples into the markdown written to bench/RESULTS.md (and printed).
import type { Lookup, Results, Row, Target } from './plan.js';

export interface Machine {
  cpu: string;
  node: string;
  v8: string;
  redis: string;
  peers: string;
  loadBefore: number;
  loadAfter: number;
}

export interface ReportInput {
  info: Machine;
  results: Results;
  rows: readonly Row[];
  targets: readonly Target[];
  quick: boolean;
  rounds: number;
  seconds: number;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Half the min–max range of the rounds, as a percentage of the median. */
function spread(values: readonly number[]): string {
  if (values.length < 2) return '–';
  const m = median(values);
  return `±${((Math.max(...values) - Math.min(...values)) / 2 / m * 100).toFixed(0)}%`;
}

function ops(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k`;
  return v.toFixed(0);
}

const ns = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const us = (ms: number): string => (ms * 1000).toFixed(ms * 1000 >= 100 ? 0 : 1);

function table(header: string[], body: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...body.map(line)].join('\n');
}

export function renderReport({ info, results, rows, targets, quick, rounds, seconds }: ReportInput): string {
  const samples = (rowId: string, contender: string, metric: string): number[] | undefined =>
    results.samples[`${rowId}/${contender}`]?.[metric];
  const m: Lookup = (rowId, contender, metric) => {
    const s = samples(rowId, contender, metric);
    return s === undefined || s.length === 0 ? undefined : median(s);
  };
  const out: string[] = [];
  const clock = m('clock', 'performance.now()', 'nsPerOp');
  out.push('# bucketflow benchmark results', '');
  out.push(`Written by \`npm run bench\`${quick ? ' --quick' : ''} on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: `
    + `${rounds} rounds, contenders in rotating order, each measurement in its own \`node --expose-gc\` process; `
    + `medians of the rounds, spread = half the min–max range of the rounds. Took ${seconds.toFixed(0)} s.`, '');
  out.push(`- Machine: ${info.cpu}, load average ${info.loadBefore.toFixed(2)} before / ${info.loadAfter.toFixed(2)} after`);
  out.push(`- Node ${info.node} (V8 ${info.v8}), Redis ${info.redis}; peers: ${info.peers}`);
  if (clock !== undefined) {
    const held = m('clock', 'performance.now() on a held object', 'nsPerOp');
    const date = m('clock', 'Date.now()', 'nsPerOp');
    out.push(`- One clock read: \`performance.now()\` ${ns(clock)} ns (global getter each time), `
      + `${held === undefined ? '?' : ns(held)} ns on a held \`performance\` object (what the buckets do), \`Date.now()\` ${date === undefined ? '?' : ns(date)} ns`);
  }
  out.push('');

  for (const row of rows) {
    if (row.id === 'clock') continue;
    const contenders = row.contenders();
    out.push(`## ${row.title}`, '', row.note, '');
    const base = (metric: string): number | undefined => (row.baseline === undefined ? undefined : m(row.id, row.baseline, metric));
    const vs = (v: number | undefined, b: number | undefined): string => (v === undefined || b === undefined ? '' : `${(v / b).toFixed(2)}×`);
    const body: string[][] = [];
    for (const c of contenders) {
      const err = results.errors[`${row.id}/${c}`];
      const get = (metric: string): number | undefined => m(row.id, c, metric);
      const sp = (metric: string): string => spread(samples(row.id, c, metric) ?? []);
      const o = get('opsPerSec');
      if (err !== undefined && o === undefined && get('bytesPerWaiter') === undefined) {
        body.push([c, `error: ${err.replace(/\|/g, '\\|')}`]);
        continue;
      }
      if (row.kind === 'ops') {
        body.push([c, o === undefined ? '' : ops(o), ns(get('nsPerOp') ?? NaN), sp('opsPerSec'), vs(o, base('opsPerSec'))]);
      } else if (row.kind === 'heap') {
        const b = get('bytesPerKey');
        body.push([c, o === undefined ? '' : ops(o), sp('opsPerSec'), b === undefined ? '' : b.toFixed(0), sp('bytesPerKey'), vs(b, base('bytesPerKey'))]);
      } else if (row.kind === 'waiters') {
        body.push([c, (get('bytesPerWaiter') ?? NaN).toFixed(0), sp('bytesPerWaiter'), String(get('timers') ?? '')]);
      } else {
        body.push([c, o === undefined ? '' : ops(o), sp('opsPerSec'), us(get('p50Ms') ?? NaN), us(get('p99Ms') ?? NaN),
          (get('cpuUsPerCall') ?? NaN).toFixed(1), vs(o, base('opsPerSec'))]);
      }
    }
    const b = row.baseline ?? '';
    const headers: Record<Row['kind'], string[]> = {
      ops: ['contender', 'ops/s', 'ns/op', 'spread', `× ${b}`],
      heap: ['contender', 'ops/s', 'spread', 'heap B/key', 'spread', `heap × ${b}`],
      waiters: ['contender', 'heap B/waiter', 'spread', 'live timers'],
      redis: ['contender', 'ops/s', 'spread', 'p50 µs', 'p99 µs', 'client CPU µs/call', `× ${b}`],
    };
    out.push(table(headers[row.kind], body), '');
  }

  const ceilings = Object.entries(results.ceiling);
  if (ceilings.length > 0) {
    out.push('## Redis server-side ceiling: `redis-benchmark -P 16 -c 50`', '');
    out.push('What the server alone can do with each script (no Node client in the way).', '');
    out.push(table(['script', 'requests/s', 'spread'], ceilings.map(([name, v]) => [name, ops(median(v)), spread(v)])), '');
  }

  out.push('## Targets', '');
  out.push('"Physical limit" is what the minimal bucket (or minimal Lua script) itself reaches on the same '
    + 'comparison: where it misses too, the target asks for more than one clock read (or one script call) allows on this machine.', '');
  out.push(table(['target', 'measured', 'result', 'physical limit'], targets.map((t) => {
    const r = t.check(m);
    return r === undefined ? [t.text, 'not measured', '–', ''] : [t.text, r.measured, r.pass ? 'PASS' : '**MISS**', r.limit ?? ''];
  })), '');
  out.push(...notes(m), '');
  return out.join('\n');
}

/** Why the targets that miss do, with this run's numbers. */
function notes(m: Lookup): string[] {
  const out = ['## Reading the misses', ''];
  const clock = m('clock', 'performance.now() on a held object', 'nsPerOp');
  for (const id of ['allow', 'reject'] as const) {
    const min = m(id, 'minimal bucket', 'nsPerOp');
    const lim = m(id, 'limiter', 'nsPerOp');
    const rlf = m(id, 'rate-limiter-flexible', 'nsPerOp');
    const ours = m(id, 'bucketflow', 'nsPerOp');
    if (clock === undefined || min === undefined || lim === undefined || rlf === undefined || ours === undefined) continue;
    const bounds = [
      ...(ours > lim / 1.5 ? [`1.5× limiter means ≤ ${ns(lim / 1.5)} ns per call`] : []),
      ...(ours > rlf / 5 ? [`5× rate-limiter-flexible means ≤ ${ns(rlf / 5)} ns per call`] : []),
    ];
    if (bounds.length === 0) continue;
    out.push(`- **${id} path**: one clock read costs ${ns(clock)} ns, the minimal bucket ${ns(min)} ns, bucketflow ${ns(ours)} ns; `
      + `${bounds.join(' and ')}. A bucket must read the clock on every call to stay exact (it cannot know how long it sat `
      + 'full otherwise), so a bound at or below the minimal bucket\'s time is beyond what an exact bucket can do on this machine; '
      + 'a bound between the two is the overhead bucketflow\'s checks still cost.');
  }
  const tb = m('manyKeys', 'bucketflow TokenBucket', 'bytesPerKey');
  const min = m('manyKeys', 'minimal bucket', 'bytesPerKey');
  const keyed = m('manyKeys', 'bucketflow KeyedTokenBucket', 'bytesPerKey');
  if (tb !== undefined && min !== undefined) {
    out.push(`- **heap per key**: a TokenBucket object is ${tb.toFixed(0)} B, the minimal bucket ${min.toFixed(0)} B. In V8 (Node 20, no pointer compression) `
      + 'an object costs 24 B plus 8 B per field, and every field holding a fractional number points to its own 16 B box. '
      + 'The minimal bucket has 4 fields; a TokenBucket also carries its public `capacity`/`fillRate`/`limits`, its clock, '
      + 'a slot for waiters and one for extra limits (11 fields with the private-method brand). Even 6 fields (capacity, '
      + 'rate, clock, level, time, per-ms rate) with 3 boxed doubles is 128 B, 1.14× a 4-field bucket with the same boxes, '
      + `so ≤ 1.1× cannot hold for a bucket object. For many keys use KeyedTokenBucket: ${keyed === undefined ? '?' : keyed.toFixed(0)} B per key `
      + '(a Map entry and a slot in a Float64Array, no object per key).');
  }
  out.push('- **Redis**: with 64 callers on one key, bucketflow sends the calls of a tick as one script call, while the minimal Lua '
    + 'bucket sends one per call. Over 10,000 keys there is nothing to gather, and the gap to the minimal script is bucketflow\'s '
    + 'client-side cost per call: ioredis `defineCommand` (EVALSHA with the EVAL fallback), the deadline every call gets (the timeout '
    + 'guarantee the minimal script does not give) and a promise. The "physical limit" column shows what the minimal Lua bucket '
    + 'reaches against rate-limiter-flexible in this run; on one connection the client (ioredis writes one command per socket write) '
    + 'and the server share these 2 cores, so the Redis rows are the noisiest.');
  return out;
}
