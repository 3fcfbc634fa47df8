// @rateLimit as a standard TC39 method decorator. The test transformer of this vitest setup
// (oxc, via Vite 8) does not lower standard decorators, so the fixture is compiled here with the
// TypeScript compiler itself, which is also what users of `tsc` run. Its `bucketflow` import is
// resolved by the test runner to the same module the tests use (one RateLimitExceeded class).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { RateLimitExceeded, rateLimit } from 'bucketflow';

type Fixture = typeof import('./fixtures/decorated-client.js');
let fixture: Fixture;
let compiled: string;

beforeAll(async () => {
  const source = readFileSync(new URL('./fixtures/decorated-client.ts', import.meta.url), 'utf8');
  const out = ts.transpileModule(source, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, experimentalDecorators: false },
    reportDiagnostics: true,
  });
  expect(out.diagnostics ?? []).toEqual([]);
  compiled = out.outputText;
  const dir = mkdtempSync(join(tmpdir(), 'bucketflow-decorator-'));
  const file = join(dir, 'decorated-client.mjs');
  writeFileSync(file, compiled);
  try {
    fixture = (await import(/* @vite-ignore */ file)) as Fixture;
  } finally {
    // Once imported, the module lives in memory: the file is needed no longer.
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('@rateLimit as a standard decorator', () => {
  it('compiles to standard decorators (not the legacy experimentalDecorators form)', () => {
    expect(compiled).toMatch(/__esDecorate/);
    expect(compiled).not.toMatch(/__decorate\(/);
  });

  it('preserves this, arguments and the return value', async () => {
    const client = new fixture.ApiClient('alice');
    await expect(client.fetchUser(7)).resolves.toEqual({ id: 7, by: 'alice' });
    expect(client.calls).toEqual(['fetchUser(7)']);
    expect(client.fetchUser.name).toBe('fetchUser');
  });

  it('uses one bucket per decorated method, shared by all instances', async () => {
    const a = new fixture.ApiClient('a');
    const b = new fixture.ApiClient('b');
    // fetchUser's bucket holds 2 tokens and refills one per 1000 s. Per-instance buckets would let
    // both calls of `a` through; a shared one refuses the last (whatever earlier tests took).
    await expect(b.fetchUser(1)).resolves.toEqual({ id: 1, by: 'b' });
    await a.fetchUser(2).catch(() => undefined);
    const refused = await a.fetchUser(3).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitExceeded);
    expect((refused as RateLimitExceeded).retryAfter).toBeGreaterThan(900_000); // about 1000 s for a token
    expect(a.calls).not.toContain('fetchUser(3)'); // a refused call does not run the method
    // Another method has its own bucket.
    await expect(a.ping() as unknown as Promise<string>).resolves.toBe('pong from a');
    await expect(b.ping() as unknown as Promise<string>).rejects.toBeInstanceOf(RateLimitExceeded);
  });

  it('waits on a shared bucket passed as `bucket`', async () => {
    const client = new fixture.ApiClient('c');
    let n = -1;
    const p = client.report('first').then((r) => (n = r));
    await new Promise((r) => setImmediate(r));
    expect(n).toBe(-1);
    fixture.sharedClock.advance(1000);
    await p;
    expect(n).toBe(1);
  });

  it('with concurrency, runs one call at a time across all instances', async () => {
    const a = new fixture.ApiClient('a');
    const b = new fixture.ApiClient('b');
    let finishA!: () => void;
    const first = a.exclusive(new Promise<void>((resolve) => (finishA = resolve)));
    const second = b.exclusive(Promise.resolve());
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(a.calls).toEqual(['exclusive']);
    expect(b.calls).toEqual([]); // waiting for a's call to end
    finishA();
    expect(await Promise.all([first, second])).toEqual(['a', 'b']);
    expect(b.calls).toEqual(['exclusive']);
  });

  it('lets errors from the method pass through unchanged', async () => {
    await expect(new fixture.ApiClient('d').fail()).rejects.toThrow('failed in d');
  });
});

describe('rateLimit called the way a decorator is', () => {
  it('accepts (fn, context) for a method and rejects other kinds of decoration', () => {
    const decorate = rateLimit({ tokensPerSecond: 1 });
    const method = function (this: unknown) {
      return 1;
    };
    const context = { kind: 'method', name: 'm' } as unknown as ClassMethodDecoratorContext;
    expect(typeof decorate(method, context)).toBe('function');
    expect(() => decorate(method, { kind: 'field', name: 'f' } as unknown as ClassMethodDecoratorContext)).toThrow(/decorates methods, not a field/);
    expect(() => decorate(5 as never)).toThrow(/must be applied to a function/);
  });
});
