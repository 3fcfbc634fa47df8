// The README section on keyed limiters, several limits and worker threads shows only code that
// runs: each sample is the text of a file in examples/ (run by `npm run example`).
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
const section = readme.slice(readme.indexOf('\n## Many keys: '), readme.indexOf('\n## Decisions'));
const normalise = (text: string) => text.split('\n').map((l) => l.trim()).filter((l) => l !== '').join('\n');
const examples = readdirSync(new URL('examples/', root))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => normalise(readFileSync(new URL(`examples/${f}`, root), 'utf8')));
const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => normalise(m[1]!));

describe('README: keyed, multi-limit, worker threads', () => {
  it('has the keyed, multi-limit and worker samples', () => {
    expect(blocks.length).toBe(3);
    expect(section).toMatch(/KeyedTokenBucket/);
    expect(section).toMatch(/SharedTokenBucket\.from/);
  });

  it.each(blocks.map((b, i) => [i, b.split('\n')[0], b] as const))('sample %i (%s) is the code of a runnable example', (_i, _first, block) => {
    expect(examples.some((e) => e.includes(block))).toBe(true);
  });

  it('examples/run-all.ts runs the keyed and workers demos', () => {
    const runAll = readFileSync(new URL('examples/run-all.ts', root), 'utf8');
    expect(runAll).toMatch(/'keyed'/);
    expect(runAll).toMatch(/'workers'/);
  });
});
