// `npm run bench [-- --quick] [-- --only=allow,reject]`: bucketflow next to its peers in one run.
//
// Method: the child (bench/child.ts and the suites) is bundled once with tsup, as the package
// itself is built; each measurement then runs in its own `node --expose-gc` process. Every row
// is measured in several rounds with the contenders in a rotating order, so drift on a busy
// machine spreads over all of them; the tables show the median and the spread of the rounds.
// Targets are ratios within this run, never absolute numbers.
import { execFileSync, fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';
import type { Metrics, Timing } from './measure.js';
import { startRedis } from './redis-server.js';
import { CEILING_SCRIPTS, ROWS, TARGETS, type CeilingScript, type Results, type Row } from './plan.js';
import { renderReport, type Machine } from './report.js';
import type { Job } from './suites/types.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.slice('--rounds='.length) ?? (quick ? 1 : 5));

const LOCAL: Timing = quick ? { warmMs: 50, measureMs: 100 } : { warmMs: 400, measureMs: 1000 };
const REDIS: Timing = quick ? { warmMs: 100, measureMs: 200 } : { warmMs: 500, measureMs: 1500 };
const CEILING_REQUESTS = quick ? 50_000 : 400_000;

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
    external: ['ioredis', 'limiter', 'rate-limiter-flexible', 'simple-token-bucket'],
    outExtension: () => ({ js: '.mjs' }),
  });
  return join(outDir, 'child.mjs');
}

function runChild(child: string, job: Job): Promise<Metrics> {
  return new Promise((resolve, reject) => {
    const proc = fork(child, [JSON.stringify(job)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
    peers: ['limiter', 'rate-limiter-flexible', 'simple-token-bucket', 'ioredis'].map((p) => `${p} ${versionOf(p)}`).join(', '),
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

async function main(): Promise<void> {
  const started = Date.now();
  const info = machine();
  console.log(`bucketflow bench${quick ? ' (quick)' : ''}: ${rounds} rounds`);
  console.log(`${info.cpu}; Node ${info.node} (V8 ${info.v8}); Redis ${info.redis}; ${info.peers}`);
  const child = await bundleChild();
  const redis = await startRedis();
  const rows: Row[] = ROWS.filter((r) => only === undefined || only.includes(r.id));
  const results: Results = { samples: {}, errors: {}, ceiling: {} };
  try {
    for (let round = 0; round < rounds; round++) {
      for (const row of rows) {
        const timing = row.id.startsWith('redis') ? REDIS : LOCAL;
        for (const contender of rotate(row.contenders(), round)) {
          const job: Job = { suite: row.id, contender, timing, redisPort: redis.port };
          const key = `${row.id}/${contender}`;
          try {
            const metrics = await runChild(child, job);
            for (const [metric, value] of Object.entries(metrics)) ((results.samples[key] ??= {})[metric] ??= []).push(value);
          } catch (error) {
            results.errors[key] = (error as Error).message.split('\n')[0]!;
          }
        }
      }
      if (only === undefined || only.includes('ceiling')) {
        for (const script of CEILING_SCRIPTS) (results.ceiling[script.name] ??= []).push(ceiling(redis.port, script));
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(0);
      console.log(`round ${round + 1}/${rounds} done (${seconds} s)`);
    }
  } finally {
    await redis.stop();
  }
  info.loadAfter = loadavg()[0]!;
  const report = renderReport({ info, results, rows, targets: TARGETS, quick, rounds, seconds: (Date.now() - started) / 1000 });
  console.log(`\n${report}`);
  // Only a full run of every row stands for the project; quick runs are for development.
  if (only === undefined && !quick) {
    writeFileSync(join(root, 'bench', 'RESULTS.md'), report);
    console.log('written to bench/RESULTS.md');
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
