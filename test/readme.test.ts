// What a newcomer reads first: the README's shape (a short first example, a table of contents, a
// guide to the kinds), links that work on the npm page as well as on GitHub, and `npm run example`.
// test/readme-blocks.test.ts runs every code block of the README and docs/ as written.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = new URL('../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
const REPO = 'https://github.com/bucketflow/bucketflow/blob/main/';

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
const anchorsOf = (markdown: string) => new Set([...markdown.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));
/** Link targets outside code blocks. */
const linksOf = (markdown: string) => [...markdown.replace(/```[\s\S]*?```/g, '').matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);

describe('README', () => {
  it('opens with what it is and a runnable example of at most 10 lines, before any other section', () => {
    const beforeFirstSection = readme.slice(0, readme.indexOf('\n## '));
    const first = /```ts\n([\s\S]*?)```/.exec(beforeFirstSection);
    expect(first, 'a ts block before the first section').not.toBeNull();
    expect(first![1]!.trimEnd().split('\n').length).toBeLessThanOrEqual(10);
    expect(readme).toMatch(/npm install bucketflow/);
  });

  it('has a table of contents, a guide to the kinds, and how to run the samples (TypeScript, JavaScript, CommonJS)', () => {
    for (const heading of ['Contents', 'Which one do I need?', 'Running the examples']) expect(anchorsOf(readme).has(slug(heading)), heading).toBe(true);
    const guide = readme.slice(readme.indexOf('## Which one do I need?'), readme.indexOf('\n## ', readme.indexOf('## Which one do I need?') + 5));
    for (const kind of ['TokenBucket', 'AsyncTokenBucket', 'HierarchicalTokenBucket', 'KeyedTokenBucket', 'SharedTokenBucket', 'Semaphore', 'RedisTokenBucket', 'RedisSemaphore', 'expressRateLimit']) {
      expect(guide, kind).toContain(kind);
    }
    expect(readme).toMatch(/```js\nconst \{[^}]+\} = require\('bucketflow'\);/);
  });

  it('links to headings that exist, and to files by absolute address (the npm page has no repository files)', () => {
    const anchors = anchorsOf(readme);
    for (const link of linksOf(readme)) {
      if (link.startsWith('#')) expect(anchors.has(link.slice(1)), link).toBe(true);
      else expect(link, 'a relative link').toMatch(/^https?:\/\//);
      if (link.startsWith(REPO)) {
        const [file, anchor] = link.slice(REPO.length).split('#');
        expect(existsSync(new URL(file!, root)), link).toBe(true);
        if (anchor !== undefined) expect(anchorsOf(readFileSync(new URL(file!, root), 'utf8')).has(anchor), link).toBe(true);
      }
    }
  });

  it('docs/ links to files and headings that exist', () => {
    const docs = new URL('docs/', root);
    for (const name of readdirSync(docs).filter((f) => f.endsWith('.md'))) {
      const text = readFileSync(new URL(name, docs), 'utf8');
      for (const link of linksOf(text)) {
        if (/^https?:\/\//.test(link)) continue;
        const [file, anchor] = link.split('#');
        const target = file === '' ? new URL(name, docs) : new URL(file!, docs);
        expect(existsSync(target), `${name}: ${link}`).toBe(true);
        if (anchor !== undefined && target.pathname.endsWith('.md')) {
          expect(anchorsOf(readFileSync(target, 'utf8')).has(anchor), `${name}: ${link}`).toBe(true);
        }
      }
    }
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
    expect(stdout).toContain('after setLimits: 3 tokens (cut to the new capacity), 5 per second');
    expect(stdout).toContain('bob owes 5 tokens, back in 6 s');
    expect(stdout).toMatch(/all \d+ demos ran/);
  }, 40_000);

  it('runs the keyed, workers, take and HTTP demos too', () => {
    const runAll = readFileSync(new URL('examples/run-all.ts', root), 'utf8');
    for (const demo of ['keyed', 'workers', 'take', 'http-express', 'http-fastify', 'http-hono', 'http-fetch', 'set-limits']) expect(runAll).toContain(`'${demo}'`);
  });

  it('the take() demo prints what its comments say', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/take.ts'], { cwd: root, timeout: 30_000 });
    expect(stdout.trim().split('\n')).toEqual(['true 6 0 400000', '[ 4000, 400000 ]', 'false 1000']);
  });
});
