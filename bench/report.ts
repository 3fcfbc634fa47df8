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

  out.push('## Targets (issue 5)', '');
  out.push('"Physical limit" is what the minimal bucket (or minimal Lua script) itself reaches on the same '
    + 'comparison: where it misses too, the target asks for more than one clock read (or one script call) allows on this machine.', '');
  out.push(table(['target', 'measured', 'result', 'physical limit'], targets.map((t) => {
    const r = t.check(m);
    return r === undefined ? [t.text, 'not measured', '–', ''] : [t.text, r.measured, r.pass ? 'PASS' : '**MISS**', r.limit ?? ''];
  })), '');
  return out.join('\n');
}
