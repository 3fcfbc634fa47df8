// A throwaway app with bucketflow installed in its node_modules, built from the source the way
// `npm run build` builds it (tsup.config.ts, without the type declarations), plus the runtime
// program bundled into one module with no imports. Each runtime then loads the package the way
// its users would: Deno and Bun resolve it through the exports map, the browser gets the files
// the map names under the `browser` condition, workerd gets a bundle made with its conditions.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build as esbuild } from 'esbuild';
import { build as tsup } from 'tsup';
import config from '../../tsup.config.js';
import type { Expectations } from './program.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface PackageApp {
  /** The app's folder: package.json, program.mjs, node_modules/bucketflow. */
  readonly dir: string;
  /** The installed package's folder. */
  readonly pkgDir: string;
  readonly pkg: { exports: Record<string, unknown> };
  /**
   * Writes an ES module into the app that runs the program: at once, printing `REPORT <json>`
   * (`print`); when its export `run()` is called (`export`); or as a Worker's fetch handler
   * answering with the report (`worker`: a Worker may not use timers before its first request).
   */
  writeRunner(file: string, expected: Expectations, how: 'print' | 'export' | 'worker', specifiers?: Record<string, string>): string;
  /** Bundles `entry` (a file of the app) with the package for a runtime that takes one script. */
  bundle(entry: string, conditions: string[]): Promise<string>;
  remove(): void;
}

/** The entries the program takes, by the name it gives them. */
export const ENTRIES = { core: '.', async: './async', hierarchical: './hierarchical', http: './http' } as const;

/** The file the exports map names for `subpath` under `conditions`, matched in the map's order as Node does. */
export function resolveExport(pkg: { exports: Record<string, unknown> }, subpath: string, conditions: readonly string[]): string {
  let target: unknown = pkg.exports[subpath];
  while (typeof target === 'object' && target !== null) {
    const key = Object.keys(target).find((k) => k === 'default' || conditions.includes(k));
    if (key === undefined) throw new Error(`exports["${subpath}"] has nothing for conditions ${conditions.join(', ')}`);
    target = (target as Record<string, unknown>)[key];
  }
  if (typeof target !== 'string') throw new Error(`exports["${subpath}"] names no file`);
  return target;
}

export async function makePackageApp(): Promise<PackageApp> {
  const dir = mkdtempSync(join(tmpdir(), 'bucketflow-runtimes-'));
  try {
    const pkgDir = join(dir, 'node_modules', 'bucketflow');
    mkdirSync(pkgDir, { recursive: true });
    const options = Array.isArray(config) ? config[0] : config;
    if (typeof options !== 'object' || options === null) throw new Error('tsup.config.ts exports no options object');
    await tsup({ ...options, config: false, dts: false, silent: true, outDir: join(pkgDir, 'dist') });
    cpSync(join(root, 'package.json'), join(pkgDir, 'package.json'));
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as PackageApp['pkg'];
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'runtimes-app', private: true, type: 'module' }));
    await esbuild({
      entryPoints: [join(root, 'test/runtimes/program.ts')],
      outfile: join(dir, 'program.mjs'),
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      logLevel: 'error',
    });
    return {
      dir,
      pkgDir,
      pkg,
      writeRunner(file, expected, how, specifiers = Object.fromEntries(Object.entries(ENTRIES).map(([k, sub]) => [k, `bucketflow${sub.slice(1)}`]))) {
        const names = Object.keys(ENTRIES);
        const code = [
          ...names.map((n) => `import * as ${n} from ${JSON.stringify(specifiers[n])};`),
          `import { runAll } from './program.mjs';`,
          `export const run = () => runAll({ ${names.join(', ')} }, ${JSON.stringify(expected)});`,
          how === 'print' ? `console.log('REPORT ' + JSON.stringify(await run()));` : '',
          how === 'worker' ? `export default { async fetch() { return Response.json(await run()); } };` : '',
        ].join('\n');
        writeFileSync(join(dir, file), code);
        return join(dir, file);
      },
      async bundle(entry, conditions) {
        const outfile = join(dir, `bundled-${entry}`);
        await esbuild({
          entryPoints: [join(dir, entry)],
          absWorkingDir: dir,
          outfile,
          bundle: true,
          format: 'esm',
          platform: 'browser',
          conditions,
          target: 'es2022',
          logLevel: 'error',
        });
        return readFileSync(outfile, 'utf8');
      },
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
