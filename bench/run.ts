// `npm run bench [-- --quick] [-- --only=allow,reject] [-- --rounds=3]`: bucketflow next to its
// peers in one run.
//
// Method: the child (bench/child.ts and the suites) is bundled once with tsup, as the package
// itself is built; each measurement then runs in its own `node --expose-gc` process. Every row
// is measured in several rounds with the contenders in a rotating order, so drift on a busy
// machine spreads over all of them; the tables show the median and the spread of the rounds.
// Targets are ratios within this run, never absolute numbers.
//
// stdout carries the report only; what the bench is doing (and the children's own output) goes
// to stderr, a line as each measurement starts, so a long round never looks hung.
import { execFileSync, fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';
import type { Metrics, Timing } from './measure.js';
import { startRedis } from './redis-server.js';
import { CEILING_SCRIPTS, ROWS, TARGETS, type CeilingScript, type Results, type Row, type RowKind } from './plan.js';
import { renderReport, type Machine } from './report.js';
import type { Job } from './suites/types.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** `--only=` may also name the server-side ceiling, which is no row. */
const CEILING = 'ceiling';

interface Options {
  /** One round of short windows, tables only, nothing written. */
  quick: boolean;
  /** Row ids (and `ceiling`) to measure; every one when undefined. */
  only: readonly string[] | undefined;
  rounds: number;
}

const USAGE = 'usage: npm run bench [-- --quick] [-- --only=<id>,<id>…] [-- --rounds=<n>]';

/** The command line, checked: a mistyped option must not quietly start the full run. */
function parseOptions(args: readonly string[]): Options {
  let quick = false;
  let only: string[] | undefined;
  let rounds: string | undefined;
  for (const arg of args) {
    const eq = arg.indexOf('=');
    const [name, value] = eq < 0 ? [arg, undefined] : [arg.slice(0, eq), arg.slice(eq + 1)];
    if (name === '--quick' && value === undefined) quick = true;
    else if (name === '--only' && value !== undefined) only = value.split(',').filter((id) => id !== '');
    else if (name === '--rounds' && value !== undefined) rounds = value;
    else throw new Error(`unknown option ${JSON.stringify(arg)}\n${USAGE}`);
  }
  const ids = [...ROWS.map((r) => r.id), CEILING];
  const unknown = only?.filter((id) => !ids.includes(id)) ?? [];
  if (only?.length === 0 || unknown.length > 0) {
    throw new Error(`--only takes row ids${unknown.length > 0 ? ` (there is no ${unknown.join(', ')})` : ''}: ${ids.join(', ')}`);
  }
  const n = rounds === undefined ? (quick ? 1 : 5) : Number(rounds);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--rounds must be a whole number ≥ 1, got ${JSON.stringify(rounds)}`);
  return { quick, only, rounds: n };
}

function optionsOrExit(args: readonly string[]): Options {
  try {
    return parseOptions(args);
  } catch (error) {
    console.error((error as Error).message);
    return process.exit(2);
  }
}

const { quick, only, rounds } = optionsOrExit(process.argv.slice(2));

const LOCAL: Timing = quick ? { warmMs: 50, measureMs: 100 } : { warmMs: 400, measureMs: 1000 };
const REDIS: Timing = quick ? { warmMs: 100, measureMs: 200 } : { warmMs: 500, measureMs: 1500 };
// An HTTP server needs longer to warm up (the framework's code as well as the limiter's), and the
// load generator's start is outside these windows.
const HTTP: Timing = quick ? { warmMs: 300, measureMs: 500 } : { warmMs: 1000, measureMs: 2000 };
const TIMING: Record<RowKind, Timing> = { ops: LOCAL, heap: LOCAL, waiters: LOCAL, redis: REDIS, http: HTTP };
const CEILING_REQUESTS = quick ? 50_000 : 400_000;

/** What the bench is doing, for whoever watches it run. */
const progress = (line: string): void => void process.stderr.write(`${line}\n`);

async function bundleChild(): Promise<string> {
  // Inside node_modules so the peers resolve as they do for users (from their published builds).
  const outDir = join(root, 'node_modules', '.cache', 'bucketflow-bench');
  mkdirSync(outDir, { recursive: true });
  await build({
    entry: { child: join(root, 'bench', 'child.ts') },
    outDir,
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    bundle: true,
    splitting: false,
    dts: false,
    clean: true,
    silent: true,
    config: false,
    external: [
      'ioredis', 'limiter', 'rate-limiter-flexible', 'simple-token-bucket', 'bottleneck', 'p-limit', 'async-sema',
      'express', 'express-rate-limit', 'rate-limit-redis', 'fastify', '@fastify/rate-limit', 'autocannon',
    ],
    outExtension: () => ({ js: '.mjs' }),
  });
  return join(outDir, 'child.mjs');
}

function runChild(child: string, job: Job): Promise<Metrics> {
  return new Promise((resolve, reject) => {
    // The child's stdout goes to our stderr: stdout is the report's.
    const proc = fork(child, [JSON.stringify(job)], { execArgv: ['--expose-gc'], stdio: ['ignore', 2, 'inherit', 'ipc'] });
    let answer: { ok: boolean; metrics?: Metrics; error?: string } | undefined;
    const timer = setTimeout(() => proc.kill('SIGKILL'), 120_000);
    proc.on('message', (m) => (answer = m as typeof answer));
    proc.on('exit', (code) => {
      clearTimeout(timer);
      if (answer?.ok && answer.metrics) resolve(answer.metrics);
      else reject(new Error(answer?.error ?? `child exited with code ${code} and no answer`));
    });
  });
}

function versionOf(pkg: string): string {
  const json = JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string };
  return json.version;
}

function machine(): Machine {
  const redis = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/)?.[1] ?? 'unknown';
  return {
    cpu: `${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}`,
    node: process.version,
    v8: process.versions.v8,
    redis,
    peers: ['limiter', 'rate-limiter-flexible', 'simple-token-bucket', 'bottleneck', 'p-limit', 'async-sema', 'ioredis', 'express', 'express-rate-limit', 'rate-limit-redis', 'fastify', '@fastify/rate-limit', 'autocannon']
      .map((p) => `${p} ${versionOf(p)}`).join(', '),
    loadBefore: loadavg()[0]!,
    loadAfter: 0,
  };
}

/** `redis-benchmark -P 16` on EVALSHA of each script: what the server alone can do. */
function ceiling(port: number, script: CeilingScript): number {
  const sha = execFileSync('redis-cli', ['-p', String(port), 'SCRIPT', 'LOAD', script.lua], { encoding: 'utf8' }).trim();
  const out = execFileSync('redis-benchmark', [
    '-h', '127.0.0.1', '-p', String(port), '-P', '16', '-c', '50', '-n', String(CEILING_REQUESTS), '--csv',
    'EVALSHA', sha, ...script.args,
  ], { encoding: 'utf8' });
  const line = out.trim().split('\n').at(-1) ?? '';
  const rps = Number(line.split(',')[1]?.replace(/"/g, ''));
  if (!Number.isFinite(rps)) throw new Error(`cannot read redis-benchmark output: ${out}`);
  return rps;
}

function rotate<T>(list: readonly T[], by: number): T[] {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/** One measurement of a round: a row's contender in its child process, or a ceiling script. */
interface Step {
  label: string;
  what: string;
  run(): Promise<void>;
}

/** A round's measurements, in this round's order of contenders. */
function stepsOf(round: number, rows: readonly Row[], child: string, redisPort: number, results: Results): Step[] {
  const steps: Step[] = [];
  for (const row of rows) {
    const timing = TIMING[row.kind];
    for (const contender of rotate(row.contenders(), round)) {
      const key = `${row.id}/${contender}`;
      steps.push({
        label: row.label,
        what: contender,
        run: async () => {
          try {
            const metrics = await runChild(child, { suite: row.id, contender, timing, redisPort });
            for (const [metric, value] of Object.entries(metrics)) ((results.samples[key] ??= {})[metric] ??= []).push(value);
          } catch (error) {
            results.errors[key] = (error as Error).message.split('\n')[0]!;
            progress(`  failed: ${results.errors[key]}`);
          }
        },
      });
    }
  }
  if (only === undefined || only.includes(CEILING)) {
    for (const script of CEILING_SCRIPTS) {
      steps.push({
        label: 'server ceiling',
        what: script.name,
        run: async () => void (results.ceiling[script.name] ??= []).push(ceiling(redisPort, script)),
      });
    }
  }
  return steps;
}

async function main(): Promise<void> {
  const started = Date.now();
  const info = machine();
  progress(`bucketflow bench${quick ? ' (quick)' : ''}: ${rounds} round${rounds === 1 ? '' : 's'}`);
  progress(`${info.cpu}; Node ${info.node} (V8 ${info.v8}); Redis ${info.redis}; ${info.peers}`);
  progress('bundling bench/child.ts and src/ with tsup');
  const child = await bundleChild();
  progress('starting redis-server');
  const redis = await startRedis();
  const rows: Row[] = ROWS.filter((r) => only === undefined || only.includes(r.id));
  const results: Results = { samples: {}, errors: {}, ceiling: {} };
  try {
    for (let round = 0; round < rounds; round++) {
      const steps = stepsOf(round, rows, child, redis.port, results);
      for (const [i, step] of steps.entries()) {
        progress(`round ${round + 1}/${rounds} · ${step.label} · ${step.what} (${i + 1}/${steps.length})`);
        await step.run();
      }
      progress(`round ${round + 1}/${rounds} done (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    }
  } finally {
    await redis.stop();
  }
  info.loadAfter = loadavg()[0]!;
  // Only a full run of every row stands for the project; quick runs and selections are for development.
  const written = only === undefined && !quick;
  const report = renderReport({
    info, results, rows, targets: TARGETS, options: process.argv.slice(2), written, tablesOnly: quick, everyRow: only === undefined, rounds,
    seconds: (Date.now() - started) / 1000,
  });
  process.stdout.write(`${report}\n`);
  const took = `took ${((Date.now() - started) / 1000).toFixed(0)} s`;
  if (written) {
    writeFileSync(join(root, 'bench', 'RESULTS.md'), report);
    progress(`${took}; written to bench/RESULTS.md`);
  } else {
    progress(`${took}; not written to bench/RESULTS.md (only a full run of every row is)`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
