// Loads an entry in a fresh Node process in which resolving certain packages fails, so a package
// an entry must not load fails loudly instead of passing unseen. Reports the entry's export names
// and any such package that got into the CommonJS cache anyway.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export interface Refused {
  /** Regular expression source matching the specifiers to refuse (e.g. `^(express|hono)(\/|$)`). */
  readonly specifiers: string;
  /** Regular expression source matching the package folder names to look for under node_modules. */
  readonly folders: string;
  /** The error message's start when one is refused. */
  readonly message: string;
}

/** `import` or `require` of `entry` (a path or a package name resolved from `root`) with `refused` packages refused. */
export async function loadRefusing(refused: Refused, how: 'import' | 'require', entry: string, root: string): Promise<{ exports: string[]; loaded: string[] }> {
  const hooks = `export async function resolve(specifier, context, next) {
  if (/${refused.specifiers}/.test(specifier)) throw new Error(${JSON.stringify(refused.message)} + ': ' + specifier + ', by ' + context.parentURL);
  return next(specifier, context);
}`;
  const code = `
    import { register, createRequire } from 'node:module';
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}));
    const require = createRequire(${JSON.stringify(root)});
    const m = ${how === 'import' ? `await import(${JSON.stringify(entry)})` : `require(${JSON.stringify(entry)})`};
    const loaded = Object.keys(require.cache).filter((k) => /node_modules[\\\\/](${refused.folders})[\\\\/]/.test(k));
    console.log(JSON.stringify({ exports: Object.keys(m).sort(), loaded }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, timeout: 30_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as { exports: string[]; loaded: string[] };
}
