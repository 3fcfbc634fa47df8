// Every entry hands its users the errors they catch, and each error is one class whichever entry it
// came from: an error thrown by a bucket of one entry is `instanceof` the class imported from any
// other. Checked on the build (the test runner maps `bucketflow/*` to the sources, where one module
// is one object anyway): a fresh Node process imports the package by its own name, so the exports
// map and the shared chunks are what is tested, in ESM and in CommonJS.

import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { name: string; exports: Record<string, unknown> };
const entries = Object.keys(pkg.exports)
  .filter((e) => e !== './package.json')
  .map((e) => (e === '.' ? pkg.name : `${pkg.name}${e.slice(1)}`));

/** The error classes users of each entry meet (an entry not listed: RateLimitExceeded). */
const ERRORS: Record<string, string[]> = {
  'bucketflow/redis': ['RateLimitExceeded', 'RedisBucketError', 'LeaseExpired'],
  'bucketflow/http': ['RateLimitExceeded', 'RedisBucketError'],
  // instrument() only watches limiters: its users catch nothing of ours.
  'bucketflow/otel': [],
};

interface Report {
  /** entry → the error classes it exports */
  exported: Record<string, string[]>;
  /** "error name: entry A vs entry B" for every pair that are different objects */
  different: string[];
  /** "from: entry" where a refusal by a bucket of `from` is not instanceof the RateLimitExceeded of `entry` */
  notInstance: string[];
}

// Runs in the child: loads every entry, compares each error class with the same name across entries,
// and makes a bucket of /async and of /hierarchical refuse a request.
const probe = (how: 'import' | 'require') => `
  import { createRequire } from 'node:module';
  const require = createRequire(${JSON.stringify(root)});
  const entries = ${JSON.stringify(entries)};
  const mods = {};
  for (const id of entries) mods[id] = ${how === 'import' ? 'await import(id)' : 'require(id)'};
  const isError = (v) => typeof v === 'function' && v.prototype instanceof Error;
  const exported = {}, different = [], notInstance = [], first = {};
  for (const id of entries) {
    exported[id] = Object.keys(mods[id]).filter((k) => isError(mods[id][k])).sort();
    for (const k of exported[id]) {
      if (!first[k]) first[k] = id;
      else if (mods[first[k]][k] !== mods[id][k]) different.push(k + ': ' + first[k] + ' vs ' + id);
    }
  }
  const refusals = {};
  {
    const { AsyncTokenBucket } = mods['bucketflow/async'];
    const b = new AsyncTokenBucket({ capacity: 1, fillRate: 0 });
    await b.acquire(1);
    refusals['bucketflow/async'] = await b.acquire(1, { maxWait: 0 }).catch((e) => e);
  }
  {
    const { createBucketHierarchy } = mods['bucketflow/hierarchical'];
    const { leaf } = createBucketHierarchy({ name: 'root', capacity: 1, fillRate: 0, children: [{ name: 'leaf', capacity: 1, fillRate: 0 }] });
    leaf.consume(1);
    refusals['bucketflow/hierarchical'] = await leaf.acquire(1, { maxWait: 0 }).catch((e) => e);
  }
  for (const [from, error] of Object.entries(refusals))
    for (const id of entries) {
      const cls = mods[id].RateLimitExceeded;
      if (cls !== undefined && !(error instanceof cls)) notInstance.push(from + ': ' + id);
    }
  console.log(JSON.stringify({ exported, different, notInstance }));`;

async function run(how: 'import' | 'require'): Promise<Report> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', probe(how)], { cwd: root, timeout: 30_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Report;
}

const built = entries.every((id) => {
  const file = id === pkg.name ? 'index' : id.slice(pkg.name.length + 1);
  return existsSync(`${root}dist/${file}.js`) && existsSync(`${root}dist/${file}.cjs`);
});
if (!built) console.warn('test/entries-dist.test.ts: skipped, dist/ is missing or incomplete: run `npm run build` first');

describe.skipIf(!built)('errors across the built entries', () => {
  it.each(['import', 'require'] as const)('%s: every entry exports its errors, one class per name', async (how) => {
    const report = await run(how);
    for (const id of entries) {
      expect(report.exported[id], id).toEqual(expect.arrayContaining(ERRORS[id] ?? ['RateLimitExceeded']));
    }
    expect(report.different).toEqual([]);
    expect(report.notInstance).toEqual([]);
  }, 40_000);
});
