// The Redis tests run once per ioredis major (vitest.config.ts: one project each, the second
// aliasing 'ioredis' to the devDependency 'ioredis6'). This checks that each project really loads
// the major it is named after, both in the test files (Vite's alias) and in the child processes
// they start with `node --import tsx` (the NODE_OPTIONS hook), so a broken alias cannot pass as
// "tested against ioredis 6".
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';

const major = inject('ioredisMajor');
const packageName = major === 5 ? 'ioredis' : `ioredis${major}`;
const require = createRequire(import.meta.url);
const root = new URL('../../', import.meta.url);

describe(`'ioredis' in this project is ioredis ${major}`, () => {
  it(`'ioredis/package.json' is ioredis ${major}.x`, async () => {
    const spec = 'ioredis/package.json'; // a variable: tsc would want resolveJsonModule for a literal
    const pkg = ((await import(spec, { with: { type: 'json' } })) as { default: { name: string; version: string } }).default;
    expect(pkg.name).toBe('ioredis');
    expect(Number(pkg.version.split('.')[0])).toBe(major);
  });

  it(`the Redis class imported from 'ioredis' is the one of the package ${packageName}`, () => {
    const installed = require(`${packageName}/package.json`) as { version: string };
    expect(Number(installed.version.split('.')[0])).toBe(major);
    expect(Redis).toBe((require(packageName) as { Redis: unknown }).Redis);
  });

  it(`a child process started with node --import tsx loads ioredis ${major} too`, async () => {
    const code = [
      "const { Redis } = await import('ioredis');",
      "const pkg = (await import('ioredis/package.json', { with: { type: 'json' } })).default;",
      "const { createRequire } = await import('node:module');",
      `const same = Redis === createRequire(process.cwd() + '/')(${JSON.stringify(packageName)}).Redis;`,
      'console.log(JSON.stringify({ version: pkg.version, same }));',
    ].join('\n');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: root, timeout: 20_000, env: process.env,
    });
    const seen = JSON.parse(stdout.trim()) as { version: string; same: boolean };
    expect(Number(seen.version.split('.')[0])).toBe(major);
    expect(seen.same).toBe(true);
  }, 30_000);
});
