// Turns the rounds' samples into the markdown written to bench/RESULTS.md (and printed). A quick
// run prints the tables only: its windows are too short for the prose to be worth reading.
import { OF_MINIMAL_BUCKET, overheadUs, signedUs, type Evidence, type Lookup, type Results, type Row, type Target } from './plan.js';

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
  /** The options the bench was run with, as typed after `npm run bench --`. */
  options: readonly string[];
  /** Whether this report goes to bench/RESULTS.md (a full run of every row). */
  written: boolean;
  /** Tables only: no prose under the rows, no "Reading the misses". */
  tablesOnly: boolean;
  /** Whether every row was measured; a selection lists only the targets its rows measure. */
  everyRow: boolean;
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

export function renderReport(input: ReportInput): string {
  const { results, rows, targets, tablesOnly, everyRow } = input;
  const samples = (rowId: string, contender: string, metric: string): number[] | undefined =>
    results.samples[`${rowId}/${contender}`]?.[metric];
  const m: Lookup = (rowId, contender, metric) => {
    const s = samples(rowId, contender, metric);
    return s === undefined || s.length === 0 ? undefined : median(s);
  };
  const out = header(input, m);
  for (const row of rows) {
    if (row.id === 'clock' && !tablesOnly) continue; // in the header's prose instead
    out.push(`## ${row.title}`, '');
    if (!tablesOnly) out.push(row.note, '');
    out.push(rowTable(row, results, samples, m), '');
  }

  const ceilings = Object.entries(results.ceiling);
  if (ceilings.length > 0) {
    out.push('## Redis server-side ceiling: `redis-benchmark -P 16 -c 50`', '');
    if (!tablesOnly) out.push('What the server alone can do with each script (no Node client in the way).', '');
    out.push(table(['script', 'requests/s', 'spread'], ceilings.map(([name, v]) => [name, ops(median(v)), spread(v)])), '');
  }

  const checked = targets.map((t) => ({ t, r: t.check(m) })).filter(({ r }) => everyRow || r !== undefined);
  if (checked.length > 0) {
    out.push('## Targets', '');
    if (!tablesOnly) {
      out.push('"Physical limit" is what the minimal bucket (or minimal Lua script) itself reaches on the same '
        + 'comparison: where it misses too, the target asks for more than one clock read (or one script call) allows on this machine.', '');
    }
    out.push(table(['target', 'measured', 'result', 'physical limit'], checked.map(({ t, r }) =>
      r === undefined ? [t.text, 'not measured', '–', ''] : [t.text, r.measured, r.pass ? 'PASS' : '**MISS**', r.limit ?? ''])), '');
  }
  if (!tablesOnly) out.push(...notes(m, targets, rows), '');
  return out.join('\n');
}

/** What the run was and where: "Written by" only when the report is bench/RESULTS.md; nothing for tables only. */
function header({ info, options, written, tablesOnly, rounds, seconds }: ReportInput, m: Lookup): string[] {
  // Tables only means no title or provenance either: what the run was goes to stderr with the progress.
  if (tablesOnly) return [];
  const when = `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  const command = `\`npm run bench${options.length === 0 ? '' : ` -- ${options.join(' ')}`}\``;
  const rounding = `${rounds} round${rounds === 1 ? '' : 's'}`;
  const out = ['# bucketflow benchmark results', ''];
  out.push(`${written ? 'Written by' : 'Printed by'} ${command} on ${when}: `
    + `${rounding}, contenders in rotating order, each measurement in its own \`node --expose-gc\` process; `
    + `medians of the rounds, spread = half the min–max range of the rounds. Took ${seconds.toFixed(0)} s.`
    + (written ? '' : ' Not written to bench/RESULTS.md (only a full run of every row is).'), '');
  out.push(`- Machine: ${info.cpu}, load average ${info.loadBefore.toFixed(2)} before / ${info.loadAfter.toFixed(2)} after`);
  out.push(`- Node ${info.node} (V8 ${info.v8}), Redis ${info.redis}; peers: ${info.peers}`);
  const clock = m('clock', 'performance.now()', 'nsPerOp');
  if (clock !== undefined) {
    const held = m('clock', 'performance.now() on a held object', 'nsPerOp');
    const date = m('clock', 'Date.now()', 'nsPerOp');
    out.push(`- One clock read: \`performance.now()\` ${ns(clock)} ns (global getter each time), `
      + `${held === undefined ? '?' : ns(held)} ns on a held \`performance\` object (what the buckets do), \`Date.now()\` ${date === undefined ? '?' : ns(date)} ns`);
  }
  out.push('');
  return out;
}

const HEADERS: Record<Row['kind'], (baseline: string) => string[]> = {
  ops: (b) => ['contender', 'ops/s', 'ns/op', 'spread', b === '' ? '' : `× ${b}`],
  heap: (b) => ['contender', 'ops/s', 'spread', 'heap B/key', 'spread', `heap × ${b}`],
  waiters: () => ['contender', 'heap B/waiter', 'spread', 'live timers'],
  redis: (b) => ['contender', 'ops/s', 'spread', 'p50 µs', 'p99 µs', 'client CPU µs/call', 'server CPU µs/op', `× ${b}`],
  http: (b) => ['contender', 'requests/s', 'spread', 'p50 µs', 'p99 µs', 'server CPU µs/request', `overhead per request vs ${b}`],
};

/** One row's table: a line per contender, an error in place of numbers for one that failed. */
function rowTable(row: Row, results: Results, samples: (row: string, c: string, metric: string) => number[] | undefined, m: Lookup): string {
  const base = (metric: string): number | undefined => (row.baseline === undefined ? undefined : m(row.id, row.baseline, metric));
  const vs = (v: number | undefined, b: number | undefined): string => (v === undefined || b === undefined ? '' : `${(v / b).toFixed(2)}×`);
  const body: string[][] = [];
  for (const c of row.contenders()) {
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
    } else if (row.kind === 'redis') {
      body.push([c, o === undefined ? '' : ops(o), sp('opsPerSec'), us(get('p50Ms') ?? NaN), us(get('p99Ms') ?? NaN),
        cpuUs(get('cpuUsPerCall')), cpuUs(get('serverCpuUsPerOp')), vs(o, base('opsPerSec'))]);
    } else {
      const overhead = c === row.baseline ? undefined : overheadUs(m, row.id, c);
      body.push([c, o === undefined ? '' : ops(o), sp('opsPerSec'), us(get('p50Ms') ?? NaN), us(get('p99Ms') ?? NaN),
        cpuUs(get('serverCpuUsPerRequest')), overhead === undefined ? '–' : signedUs(overhead)]);
    }
  }
  return table(HEADERS[row.kind](row.baseline ?? ''), body);
}

const cpuUs = (v: number | undefined): string => (v === undefined ? '' : v.toFixed(v < 10 ? 2 : 1));

/** Why the targets that miss do, with this run's numbers. */
function notes(m: Lookup, targets: readonly Target[], rows: readonly Row[]): string[] {
  const out = ['## Reading the misses', ''];
  const clock = m('clock', 'performance.now() on a held object', 'nsPerOp');
  for (const id of ['allow', 'reject'] as const) {
    const min = m(id, 'minimal bucket', 'nsPerOp');
    const lim = m(id, 'limiter', 'nsPerOp');
    const rlf = m(id, 'rate-limiter-flexible', 'nsPerOp');
    const ours = m(id, 'bucketflow', 'nsPerOp');
    if (clock === undefined || min === undefined || lim === undefined || rlf === undefined || ours === undefined) continue;
    const share = OF_MINIMAL_BUCKET[id];
    const bounds = [
      ...(ours > min / share ? [`${share}× the minimal bucket means ≤ ${ns(min / share)} ns per call`] : []),
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
  if (rows.some((r) => r.kind === 'redis')) {
    out.push('- **Redis**: the minimal Lua bucket sends one script call per call. bucketflow gathers the non-waiting takes made in one '
      + 'tick into one script call, on one key and across keys (per hash slot on a Cluster), for the bucket kinds docs/redis.md ("What '
      + 'is guaranteed") names; a call it does not gather is one script call of its own, with the deadline every call gets (the timeout '
      + 'guarantee the minimal script does not give) and the staleness check. "client CPU µs/call" is this process\'s CPU per call; '
      + '"server CPU µs/op" is the redis-server\'s (INFO cpu, user + system) from just before to just after the measured window, per '
      + 'call made in it; CPU per call times calls per second is how busy each side was. Redis runs the scripts on one thread and the '
      + 'client runs on one, so the side near 100 % of a core is what holds the rate. Both share this machine\'s cores, which makes the '
      + 'Redis rows the noisiest: compare ratios within one run.');
  }
  if (rows.some((r) => r.kind === 'http')) {
    out.push('- **HTTP**: the server and the load generator (autocannon, 64 connections each sending its next request once the last is '
      + 'answered) are two processes sharing this machine\'s cores, so requests/s, and the overhead per request made from it, move with '
      + 'whatever else runs: compare within one run. Server CPU per request is what each request cost the server process itself; times '
      + 'requests/s it shows whether the server was the side near 100 % of a core (else the load generator held the rate). Latency is '
      + 'autocannon\'s, from sending a request to its response.');
  }
  out.push(...evidenceNotes(m, targets, rows, clock));
  return out;
}

/** One line per group of missed targets that the same measurements explain. */
function evidenceNotes(m: Lookup, targets: readonly Target[], rows: readonly Row[], clock: number | undefined): string[] {
  const missed = new Map<string, { evidence: Evidence; misses: string[] }>();
  for (const t of targets) {
    const r = t.check(m);
    if (r === undefined || r.pass || t.evidence === undefined) continue;
    const key = `${t.evidence.row}/${t.evidence.contenders.join('/')}`;
    const group = missed.get(key) ?? { evidence: t.evidence, misses: [] };
    const claim = t.text.indexOf(': ') < 0 ? t.text : t.text.slice(t.text.indexOf(': ') + 2); // the row is named once
    group.misses.push(`${claim}: ${r.measured}`);
    missed.set(key, group);
  }
  return [...missed.values()].map(({ evidence, misses }) => {
    const row = rows.find((r) => r.id === evidence.row);
    const shown = evidence.contenders.map((c) => {
      if (row?.kind === 'redis') return redisEvidence(m, evidence.row, c);
      if (row?.kind === 'http') return httpEvidence(m, evidence.row, c);
      return opsEvidence(m, evidence.row, c);
    });
    const tail = row?.kind !== 'redis' && row?.kind !== 'http' && clock !== undefined ? ` One clock read costs ${ns(clock)} ns.` : '';
    return `- **${row?.label ?? evidence.row}** (${misses.join('; ')}): ${shown.join('; ')}.${tail}`;
  });
}

function opsEvidence(m: Lookup, rowId: string, c: string): string {
  const t = m(rowId, c, 'nsPerOp');
  return `${c} ${t === undefined ? 'not measured' : `${ns(t)} ns per call`}`;
}

/** A Redis contender's rate, latency and CPU, and how busy that kept each side. */
function redisEvidence(m: Lookup, rowId: string, c: string): string {
  const rate = m(rowId, c, 'opsPerSec');
  if (rate === undefined) return `${c} not measured`;
  const busy = (usPerCall: number | undefined): string => (usPerCall === undefined ? '?' : `${((usPerCall * rate) / 1e4).toFixed(0)} %`);
  const client = m(rowId, c, 'cpuUsPerCall');
  const server = m(rowId, c, 'serverCpuUsPerOp');
  return `${c} ${ops(rate)} calls/s, p50 ${us(m(rowId, c, 'p50Ms') ?? NaN)} µs, client ${cpuUs(client)} µs/call `
    + `(${busy(client)} of a core), server ${server === undefined ? '?' : cpuUs(server)} µs/op (${busy(server)} of a core)`;
}

/** An HTTP contender's rate, what it adds to each request, latency and the server's CPU per request. */
function httpEvidence(m: Lookup, rowId: string, c: string): string {
  const rate = m(rowId, c, 'opsPerSec');
  if (rate === undefined) return `${c} not measured`;
  const overhead = overheadUs(m, rowId, c);
  const cpu = m(rowId, c, 'serverCpuUsPerRequest');
  const busy = cpu === undefined ? '' : ` (${((cpu * rate) / 1e4).toFixed(0)} % of a core)`;
  return `${c} ${ops(rate)} requests/s${overhead === undefined || overhead === 0 ? '' : ` (${signedUs(overhead)} per request)`}, `
    + `p50 ${us(m(rowId, c, 'p50Ms') ?? NaN)} µs, server CPU ${cpuUs(cpu)} µs/request${busy}`;
}
