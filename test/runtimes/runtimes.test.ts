// The core outside Node: the built package loads without any Node built-in, and the behaviour
// table plus what differs between runtimes (events, blocking waits, shared memory) run in Deno,
// Bun, headless Chromium (a plain page, a cross-origin isolated page and its worker) and workerd,
// each held to what the README's Runtimes section says. Node runs the same program as a baseline.
//
// Deno, Bun and workerd come as devDependencies; Chromium is Debian's (/usr/bin/chromium). A
// runtime that is missing is skipped with a loud warning, or fails with
// BUCKETFLOW_REQUIRE_RUNTIMES=1 (CI sets it).
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { builtinModules, createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTRIES, makePackageApp, resolveExport, type PackageApp } from './package-app.js';
import type { Expectations, Report } from './program.js';

const require = createRequire(import.meta.url);
const required = process.env.BUCKETFLOW_REQUIRE_RUNTIMES === '1';
const CHROMIUM = '/usr/bin/chromium';

type Found = { path: string } | { missing: string };

/** A runtime binary shipped by its npm package, or why it is not there. */
function npmBinary(name: string, path: () => string): Found {
  try {
    const p = path();
    return existsSync(p) ? { path: p } : { missing: `${p} does not exist` };
  } catch (error) {
    return { missing: `the ${name} package is not installed (${(error as Error).message.split('\n')[0]})` };
  }
}

const binaries = {
  deno: npmBinary('deno', () => join(dirname(require.resolve('deno/package.json')), 'bin.cjs')),
  bun: npmBinary('bun', () => join(dirname(require.resolve('bun/package.json')), 'bin', 'bun.exe')),
  chromium: (existsSync(CHROMIUM) ? { path: CHROMIUM } : { missing: `${CHROMIUM} is not installed (apt-get install chromium)` }) as Found,
  workerd: npmBinary('miniflare', () => require.resolve('miniflare')),
};

/** Defines `body` for a runtime, or skips it loudly (fails under BUCKETFLOW_REQUIRE_RUNTIMES=1). */
function onRuntime(runtime: keyof typeof binaries, name: string, body: (path: string) => void): void {
  const found = binaries[runtime];
  if ('path' in found) {
    describe(name, () => body(found.path));
    return;
  }
  if (required) {
    describe(name, () => {
      it('is required (BUCKETFLOW_REQUIRE_RUNTIMES=1)', () => {
        expect.fail(`${found.missing}; install it or unset BUCKETFLOW_REQUIRE_RUNTIMES`);
      });
    });
    return;
  }
  console.warn(`\n!!! SKIPPING ${name}: ${found.missing}. Set BUCKETFLOW_REQUIRE_RUNTIMES=1 to make this an error. !!!\n`);
  describe.skipIf(true)(`${name} (skipped: ${found.missing})`, () => body(''));
}

let app: PackageApp;
beforeAll(async () => {
  app = await makePackageApp();
}, 60_000);
afterAll(() => app?.remove());

/** Every result of a report must pass; a failure shows all of them. */
function expectAllPassed(report: Report, atLeast = 150): void {
  const failed = report.results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.error}`);
  expect(failed).toEqual([]);
  expect(report.results.length).toBeGreaterThanOrEqual(atLeast);
}

function run(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, timeout: 60_000, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

function reportOf(stdout: string): Report {
  const line = stdout.split('\n').find((l) => l.startsWith('REPORT '));
  if (line === undefined) throw new Error(`no report in the output:\n${stdout}`);
  return JSON.parse(line.slice('REPORT '.length)) as Report;
}

/** The README's serve-anywhere example, copied into the app (where 'bucketflow' resolves). */
const EXAMPLE = fileURLToPath(new URL('../../examples/serve-anywhere.ts', import.meta.url));

/** Runs the example's handler on three requests with one API key and one without: the third is refused. */
const EXAMPLE_RUNNER = `import server from './serve-anywhere.ts';
const ask = async (headers) => (await server.fetch(new Request('http://localhost/', { headers }))).status;
const statuses = [await ask({ 'x-api-key': 'k' }), await ask({ 'x-api-key': 'k' }), await ask({ 'x-api-key': 'k' }), await ask({})];
console.log('STATUSES ' + statuses.join(','));
`;
const EXAMPLE_STATUSES = 'STATUSES 200,200,429,200';

function writeExample(): string {
  copyFileSync(EXAMPLE, join(app.dir, 'serve-anywhere.ts'));
  writeFileSync(join(app.dir, 'serve-example.mjs'), EXAMPLE_RUNNER);
  return join(app.dir, 'serve-example.mjs');
}

it('the README shows the serve-anywhere example as it is', () => {
  const normalise = (text: string) => text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('//')).join('\n');
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Runtimes'), readme.indexOf('\n## Performance'));
  expect(normalise(section)).toContain(normalise(readFileSync(EXAMPLE, 'utf8')));
});

// Where the runtime has what Node has: process.hrtime, Atomics.wait, diagnostics_channel.
const NODE_LIKE: Expectations = { events: true, blockingWait: 'waits', sharedMemory: true, threadClock: true };

describe('the built core imports no Node built-in', () => {
  /** Every specifier a built file imports or requires. */
  const specifiers = (code: string) => [...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["']([^"']+)["']/g)].map((m) => m[1]!);
  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

  for (const [name, subpath] of Object.entries(ENTRIES)) {
    for (const condition of ['import', 'require'] as const) {
      it(`${name} entry (${condition}): its whole module graph imports only its own files`, () => {
        const dist = join(app.pkgDir, 'dist');
        const start = join(app.pkgDir, resolveExport(app.pkg, subpath, [condition]));
        const seen = new Set<string>();
        const outside: string[] = [];
        const visit = (file: string) => {
          if (seen.has(file)) return;
          seen.add(file);
          for (const s of specifiers(readFileSync(file, 'utf8'))) {
            if (s.startsWith('./') || s.startsWith('../')) visit(normalize(join(dirname(file), s)));
            else outside.push(`${relative(dist, file)} → ${s}${builtins.has(s) ? ' (a Node built-in)' : ''}`);
          }
        };
        visit(start);
        expect(seen.size).toBeGreaterThan(1); // the entry and its chunks: the scan did follow imports
        expect(outside).toEqual([]);
      });
    }
  }

  it('the scan sees the imports it must refuse (Node built-ins without the node: prefix, as tsup writes them)', () => {
    const otel = readFileSync(join(app.pkgDir, 'dist', 'otel.js'), 'utf8');
    expect(specifiers(otel).filter((s) => builtins.has(s))).toContain('diagnostics_channel');
  });
});

describe('Node (the same program, as the baseline)', () => {
  it('passes the behaviour table and the runtime checks', async () => {
    const runner = app.writeRunner('run-node.mjs', NODE_LIKE, 'print');
    expectAllPassed(reportOf(await run(process.execPath, [runner], app.dir)));
  }, 60_000);
});

onRuntime('deno', 'Deno 2 (the deno npm package)', (deno) => {
  it('passes the behaviour table and the runtime checks, resolving the package through node_modules', async () => {
    const runner = app.writeRunner('run-deno.mjs', NODE_LIKE, 'print');
    expect(await run(process.execPath, [deno, '--version'], app.dir)).toMatch(/^deno 2\./);
    // --no-prompt: a permission it lacked would fail here, not wait for an answer.
    expectAllPassed(reportOf(await run(process.execPath, [deno, 'run', '--no-prompt', '--no-lock', '--quiet', runner], app.dir)));
  }, 60_000);

  it('serves the README example: the third request of one key gets 429', async () => {
    const runner = writeExample();
    expect(await run(process.execPath, [deno, 'run', '--no-prompt', '--no-lock', '--quiet', runner], app.dir)).toContain(EXAMPLE_STATUSES);
  }, 60_000);
});

onRuntime('bun', 'Bun (the bun npm package)', (bun) => {
  it('passes the behaviour table and the runtime checks, resolving the package through node_modules', async () => {
    const runner = app.writeRunner('run-bun.mjs', NODE_LIKE, 'print');
    expectAllPassed(reportOf(await run(bun, [runner], app.dir)));
  }, 60_000);

  it('serves the README example: the third request of one key gets 429', async () => {
    expect(await run(bun, [writeExample()], app.dir)).toContain(EXAMPLE_STATUSES);
  }, 60_000);
});

onRuntime('workerd', 'workerd (miniflare), the package bundled as wrangler would', () => {
  // A Worker has SharedArrayBuffer but may not block, and no process.hrtime even with nodejs_compat;
  // nodejs_compat brings process.getBuiltinModule and diagnostics_channel, so events.
  const base = { blockingWait: 'may-not-block', sharedMemory: true, threadClock: false } as const;
  for (const [flags, expected] of [[[], { ...base, events: false }], [['nodejs_compat'], { ...base, events: true }]] as const) {
    it(`passes the behaviour table and the runtime checks${flags.length ? ` with ${flags.join(', ')}` : ''}`, async () => {
      const { Miniflare } = await import('miniflare');
      const file = `worker-${flags.join('-') || 'plain'}.mjs`;
      app.writeRunner(file, expected, 'worker');
      const script = await app.bundle(file, ['workerd', 'worker', 'browser']);
      const mf = new Miniflare({ modules: true, script, compatibilityDate: '2025-09-01', compatibilityFlags: [...flags] });
      try {
        const response = await mf.dispatchFetch('http://localhost/');
        expectAllPassed((await response.json()) as Report);
      } finally {
        await mf.dispose();
      }
    }, 60_000);
  }

  it('serves the README example as a Worker: the third request of one key gets 429', async () => {
    const { Miniflare } = await import('miniflare');
    writeExample();
    const script = await app.bundle('serve-anywhere.ts', ['workerd', 'worker', 'browser']);
    const mf = new Miniflare({ modules: true, script, compatibilityDate: '2025-09-01' });
    try {
      const ask = async (headers: Record<string, string>) => (await mf.dispatchFetch('http://localhost/', { headers })).status;
      const statuses = [await ask({ 'x-api-key': 'k' }), await ask({ 'x-api-key': 'k' }), await ask({ 'x-api-key': 'k' }), await ask({})];
      expect(`STATUSES ${statuses.join(',')}`).toBe(EXAMPLE_STATUSES);
    } finally {
      await mf.dispose();
    }
  }, 60_000);
});

onRuntime('chromium', 'headless Chromium (playwright-core)', (executablePath) => {
  const types: Record<string, string> = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript' };
  let server: Server;
  let origin: string;
  let profile: string;
  let context: import('playwright-core').BrowserContext;

  beforeAll(async () => {
    // Each entry as a browser loads it: the file the exports map gives under the browser's conditions.
    const specifiers = Object.fromEntries(Object.entries(ENTRIES).map(([name, subpath]) =>
      [name, `/node_modules/bucketflow/${resolveExport(app.pkg, subpath, ['browser', 'import']).slice(2)}`]));
    app.writeRunner('browser-plain.mjs', { events: false, blockingWait: 'no-shared-memory', sharedMemory: false, threadClock: false }, 'export', specifiers);
    app.writeRunner('browser-isolated.mjs', { events: false, blockingWait: 'may-not-block', sharedMemory: true, threadClock: false }, 'export', specifiers);
    // A dedicated worker of an isolated page may block: Atomics.wait is refused on the main thread only.
    app.writeRunner('browser-worker.mjs', { events: false, blockingWait: 'waits', sharedMemory: true, threadClock: false }, 'export', specifiers);
    const pages: Record<string, string> = {
      '/plain.html': `<script type="module">import { run } from '/browser-plain.mjs'; window.report = run();</script>`,
      '/isolated.html': `<script type="module">import { run } from '/browser-isolated.mjs'; window.report = run();</script>`,
      '/worker.html': `<script type="module">
        const worker = new Worker('/worker-entry.mjs', { type: 'module' });
        window.report = new Promise((resolve, reject) => { worker.onmessage = (e) => resolve(e.data); worker.onerror = (e) => reject(new Error(e.message)); });
      </script>`,
      '/worker-entry.mjs': `import { run } from '/browser-worker.mjs'; postMessage(await run());`,
    };
    server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      // Cross-origin isolation (SharedArrayBuffer) for every page but the plain one.
      const headers: Record<string, string> = path === '/plain.html' || path === '/browser-plain.mjs' ? {}
        : { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
      const page = pages[path];
      const file = normalize(join(app.dir, path));
      if (page === undefined && (!file.startsWith(app.dir + '/') || !existsSync(file))) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream', ...headers });
      res.end(page ?? readFileSync(file));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    profile = mkdtempSync(join(tmpdir(), 'bucketflow-chromium-'));
    const { chromium } = await import('playwright-core');
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await new Promise((resolve) => server?.close(resolve));
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function reportFrom(path: string, isolated: boolean): Promise<Report> {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    try {
      await page.goto(origin + path);
      expect(await page.evaluate(() => (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated), 'crossOriginIsolated').toBe(isolated);
      await page.waitForFunction(() => 'report' in globalThis, undefined, { timeout: 10_000 }).catch(() => {
        throw new Error(`the page made no report: ${errors.join('; ') || 'no error shown'}`);
      });
      return await page.evaluate(() => (globalThis as unknown as { report: Promise<Report> }).report);
    } finally {
      await page.close();
    }
  }

  it('a plain page (no SharedArrayBuffer): passes the behaviour table; blocking waits and SharedTokenBucket say why not', async () => {
    expectAllPassed(await reportFrom('/plain.html', false));
  }, 60_000);

  it('a cross-origin isolated page: SharedTokenBucket works on a clock of its own; the main thread may not block', async () => {
    expectAllPassed(await reportFrom('/isolated.html', true));
  }, 60_000);

  it('a module worker of an isolated page: a blocking consume waits', async () => {
    expectAllPassed(await reportFrom('/worker.html', true));
  }, 60_000);
});
