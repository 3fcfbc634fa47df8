// The README's "Decisions", "HTTP", "Watching" and "Runtimes" sections show only code that runs: each sample is the text
// of a file in examples/ (run by `npm run example`), and the take() sample prints what its
// comments say.
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
const section = readme.slice(readme.indexOf('\n## Decisions: '), readme.indexOf('\n## Performance'));
const normalise = (text: string) => text.split('\n').map((l) => l.trim()).filter((l) => l !== '').join('\n');
const examples = readdirSync(new URL('examples/', root))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => normalise(readFileSync(new URL(`examples/${f}`, root), 'utf8')));
const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => normalise(m[1]!));

describe('README: take() and bucketflow/http', () => {
  it('has the take sample, one per HTTP adapter, the events sample, the OpenTelemetry one and the serve-anywhere one', () => {
    expect(blocks.length).toBe(8);
    for (const name of ['take(', 'expressRateLimit', 'fastifyRateLimit', 'honoRateLimit', 'fetchRateLimit', 'bucketflow:decision', 'instrument()', 'x-api-key']) {
      expect(blocks.some((b) => b.includes(name)), name).toBe(true);
    }
  });

  it.each(blocks.map((b, i) => [i, b.split('\n')[0], b] as const))('sample %i (%s) is the code of a runnable example', (_i, _first, block) => {
    expect(examples.some((e) => e.includes(block))).toBe(true);
  });

  it('the take() sample prints what its comments say', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/take.ts'], { cwd: root, timeout: 30_000 });
    expect(stdout.trim().split('\n')).toEqual(['true 6 0 400000', '[ 4000, 400000 ]', 'false 1000']);
  });

  it('examples/run-all.ts runs the take and HTTP demos', () => {
    const runAll = readFileSync(new URL('examples/run-all.ts', root), 'utf8');
    for (const demo of ['take', 'http-express', 'http-fastify', 'http-hono', 'http-fetch']) expect(runAll).toContain(`'${demo}'`);
  });
});
