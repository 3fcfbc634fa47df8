// Checks the tarball users get, not the working tree: a file left out of `files` or a types path
// that only resolves here would pass any check run in place. Packs once, then
//   - arethetypeswrong: every entry's types resolve, in the right module format, under every
//     TypeScript resolution mode (node10, node16 from CJS and ESM, bundler);
//   - publint --strict: the exports map and package fields point at files that exist and work.
// Run after `npm run build`. Exits non-zero on the first failing check.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => join(root, 'node_modules', '.bin', name);
const dir = mkdtempSync(join(tmpdir(), 'bucketflow-check-package-'));
try {
  // --ignore-scripts: `prepare` regenerates a source file, which a packaging check must not do.
  execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', dir], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  const tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz')));
  const run = (cmd, args) => execFileSync(bin(cmd), args, { cwd: root, stdio: 'inherit' });
  run('attw', [tarball, '--format', 'table-flipped']);
  run('publint', ['--strict', tarball]);
} catch (error) {
  console.error(`check:package failed: ${error.message.split('\n')[0]}`);
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
