// The fenced code blocks of the documentation, and a throwaway app to run them in as a user would:
// bucketflow installed from the tarball `npm pack` makes, next to the third-party packages the
// blocks import.
//
// What an info string means (the documentation follows these rules, the test enforces them):
//   ts            ESM TypeScript, run as <name>.mts with `node --import tsx`
//   js            JavaScript run with `node`: CommonJS (.cjs) if it calls require(, else ESM (.mjs)
//   ts signature  (or js signature) a signature or fragment: listed, not run, kept short
//   sh, bash, text, json, or none: commands and output, not run
//   anything else: an error, so that no block is left unrun by a typo or a new language
import { execFile, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build as tsup } from 'tsup';
import config from '../../tsup.config.js';

export const root = fileURLToPath(new URL('../../', import.meta.url));

/** Lines a `signature` block may have (blank lines not counted): enough for a class's or an options type's outline. */
export const SIGNATURE_MAX_LINES = 15;

const NOT_CODE = new Set(['', 'sh', 'bash', 'text', 'json']);

export interface Block {
  /** The markdown file, relative to the repository root. */
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly info: string;
  readonly code: string;
  readonly kind: 'ts' | 'js' | 'signature' | 'not-code' | 'unknown';
}

/** README.md, then every docs/*.md. */
export function markdownFiles(): string[] {
  const docs = existsSync(join(root, 'docs'))
    ? readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)
    : [];
  return ['README.md', ...docs];
}

function kindOf(info: string): Block['kind'] {
  const [first = '', ...rest] = info.split(/\s+/).filter((w) => w !== '');
  if (NOT_CODE.has(first)) return 'not-code';
  if (first !== 'ts' && first !== 'js') return 'unknown';
  if (rest.length === 0) return first;
  return rest.length === 1 && rest[0] === 'signature' ? 'signature' : 'unknown';
}

/**
 * The fenced blocks of a markdown text (CommonMark fences: ``` or ~~~, indented as in a list item;
 * the closing fence is the same character, at least as long). The opening fence's indentation is
 * taken off the block's lines.
 */
export function extractBlocks(file: string, text: string): Block[] {
  const lines = text.split(/\r?\n/);
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent = '', fence = '', rawInfo = ''] = open;
    const info = rawInfo.trim();
    // A backtick fence's info string may not contain a backtick: such a line is inline code.
    if (fence[0] === '`' && info.includes('`')) continue;
    const close = new RegExp(`^\\s*${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !close.test(lines[j]!); j++) {
      const l = lines[j]!;
      body.push(l.startsWith(indent) ? l.slice(indent.length) : l.trimStart());
    }
    blocks.push({ file, line: i + 1, info, code: `${body.join('\n')}\n`, kind: kindOf(info) });
    i = j;
  }
  return blocks;
}

export function allBlocks(): Block[] {
  return markdownFiles().flatMap((f) => extractBlocks(f, readFileSync(join(root, f), 'utf8')));
}

/** The block's first non-blank line, for test names. */
export function firstLine(block: Block): string {
  const l = block.code.split('\n').find((s) => s.trim() !== '')?.trim() ?? '(empty)';
  return l.length > 80 ? `${l.slice(0, 77)}...` : l;
}

export const codeLines = (block: Block): number => block.code.split('\n').filter((s) => s.trim() !== '').length;

/** Whether the block imports a Redis client or bucketflow/redis, so it needs a server. */
export function needsRedis(block: Block): boolean {
  return /(?:\bfrom|\bimport|\brequire)\s*\(?\s*['"](?:bucketflow\/redis|ioredis|iovalkey|redis|@redis\/[^'"]*)['"]/.test(block.code);
}

export interface BlockApp {
  readonly dir: string;
  remove(): void;
}

/**
 * An app dir holding `node_modules/bucketflow` unpacked from `npm pack`, and a symlink to the
 * repository's copy of every other package it names (dependencies of any kind), as if the user had
 * installed them. The package is built from the current source into a staging copy (tsup, without
 * type declarations, which running the blocks does not read: half a second), so the result never
 * depends on whether dist/ is fresh, and the repository's dist/ is not rebuilt under other tests.
 */
export async function makeBlockApp(): Promise<BlockApp> {
  const work = mkdtempSync(join(tmpdir(), 'bucketflow-blocks-'));
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      name: string;
      files?: string[];
      dependencies?: Record<string, string>;
      devDependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
    };
    const stage = join(work, 'stage');
    mkdirSync(stage);
    cpSync(join(root, 'package.json'), join(stage, 'package.json'));
    for (const f of pkg.files ?? []) if (f !== 'dist' && existsSync(join(root, f))) cpSync(join(root, f), join(stage, f), { recursive: true });
    const options = Array.isArray(config) ? config[0] : config;
    if (typeof options !== 'object' || options === null) throw new Error('tsup.config.ts exports no options object');
    await tsup({ ...options, config: false, dts: false, silent: true, outDir: join(stage, 'dist') });

    // --ignore-scripts: `prepare` regenerates the Lua module in the repository, which the build just used.
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], stage);
    const [{ filename }] = JSON.parse(packed) as [{ filename: string }];
    const dir = join(work, 'app');
    const installed = join(dir, 'node_modules', pkg.name);
    mkdirSync(installed, { recursive: true });
    await run('tar', ['-xzf', join(work, filename), '-C', installed, '--strip-components=1'], work);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'readme-blocks-app', private: true, type: 'module' }));

    const names = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]);
    names.delete(pkg.name);
    for (const name of names) {
      const from = join(root, 'node_modules', name);
      if (!existsSync(from)) continue; // an optional peer this checkout does not install
      const to = join(dir, 'node_modules', name);
      mkdirSync(dirname(to), { recursive: true });
      symlinkSync(realpathSync(from), to, 'junction');
    }
    rmSync(stage, { recursive: true, force: true });
    return { dir, remove: () => rmSync(work, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
}

function run(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

// Resolved from the repository: the app does not install tsx, as a user's might not.
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface BlockResult {
  readonly file: string;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly ms: number;
  readonly stdout: string;
  readonly stderr: string;
}

const running = new Set<ChildProcess>();

/** Kills what is still running (a test that timed out leaves its block behind). */
export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Writes the block into the app and runs it in a process of its own; never rejects. */
export function runBlock(app: BlockApp, block: Block, env: Record<string, string>, timeoutMs: number): Promise<BlockResult> {
  const ext = block.kind === 'ts' ? '.mts' : /\brequire\s*\(/.test(block.code) ? '.cjs' : '.mjs';
  const name = `${block.file.replaceAll(/[^\w]/g, '_')}-L${block.line}${ext}`;
  const file = join(app.dir, name);
  writeFileSync(file, block.code);
  const args = block.kind === 'ts' ? ['--import', tsx, file] : [file];
  // The app is fresh: nothing the test runner's own Node options load (its module hooks) reaches it.
  const { NODE_OPTIONS: _, ...rest } = process.env;
  const started = performance.now();
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      args,
      { cwd: app.dir, env: { ...rest, ...env }, timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        running.delete(child);
        const ms = Math.round(performance.now() - started);
        const exit = error as (Error & { code?: number | string; killed?: boolean; signal?: NodeJS.Signals }) | null;
        resolve({
          file: name,
          exitCode: exit === null ? 0 : typeof exit.code === 'number' ? exit.code : null,
          signal: exit?.signal ?? null,
          timedOut: exit !== null && exit.killed === true && ms >= timeoutMs,
          ms,
          stdout,
          stderr: exit !== null && typeof exit.code === 'string' ? `${stderr}\n${exit.message}` : stderr,
        });
      },
    );
    running.add(child);
  });
}
