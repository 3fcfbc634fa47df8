// The README's core section promises that every code sample runs: each one must be the text of
// a file in examples/ (which `npm run example` runs, checked below).
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = new URL('../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
// From the first section to the Redis one: the samples of the in-memory buckets.
const start = readme.indexOf('\n## ');
const end = readme.indexOf('\n## Redis: ');
const core = readme.slice(start, end);

/** Lines without indentation or trailing blanks, so an indented block in a list still matches. */
const normalise = (text: string) => text.split('\n').map((l) => l.trim()).filter((l) => l !== '').join('\n');

const examples = readdirSync(new URL('examples/', root))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => ({ file: f, text: normalise(readFileSync(new URL(`examples/${f}`, root), 'utf8')) }));

const blocks = [...core.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => normalise(m[1]!));

describe('README core section', () => {
  it('exists and has code samples', () => {
    expect(start).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    expect(core).toMatch(/npm install bucketflow/);
  });

  it.each(blocks.map((b, i) => [i, b.split('\n')[0], b] as const))('sample %i (%s) is the code of a runnable example', (_i, _first, block) => {
    expect(examples.some((e) => e.text.includes(block))).toBe(true);
  });

  it('the quick start has at most 10 lines', () => {
    const quick = core.slice(core.indexOf('## Quick start'));
    const first = /```ts\n([\s\S]*?)```/.exec(quick)!;
    expect(first[1]!.trimEnd().split('\n').length).toBeLessThanOrEqual(10);
  });
});

describe('npm run example', () => {
  it('runs every core demo on the in-memory buckets and exits 0', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/run-all.ts'], {
      cwd: root,
      timeout: 30_000,
    });
    expect(stdout).toMatch(/request allowed/);
    expect(stdout).toMatch(/large \(asked first\), then small \(asked second\)/);
    expect(stdout).toMatch(/root=95 user1=20 user2=25 api1=5/);
    expect(stdout).toMatch(/node "search" \(at api\.children\[0\]\): capacity must be a finite number > 0, got -5/);
    expect(stdout).toContain('5 jobs, at most 2 at once');
    expect(stdout).toContain('in use after the block: 0');
    expect(stdout).toContain("refused alice\n{ allowed: 3, refused: 1 }");
    expect(stdout).toContain('bucketflow.decisions bucketflow.outcome=refused bucketflow.limiter=KeyedTokenBucket: 1');
    expect(stdout).toContain('bucketflow.keys bucketflow.limiter=KeyedTokenBucket: 2');
    expect(stdout).toMatch(/all \d+ demos ran/);
  }, 40_000);
});
