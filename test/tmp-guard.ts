// The test run leaves nothing in the machine's temp directory. Everything the run writes there (the
// tests' own directories, redis-server's, tsx's transform cache in the child processes) goes under
// one directory of its own: TMPDIR points there for this process and everything it starts. Other
// processes writing to /tmp at the same time cannot confuse the check, which looks only there.
// Tests clean up after themselves; teardown fails the run loudly if one did not, then removes it all.

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

// tsx caches compiled files for the child processes that load it; a cache is what they share, not
// something a test forgot.
const expected = new Set([`tsx-${userInfo().uid}`]);

export default function setup(): () => void {
  const outer = process.env.TMPDIR;
  const root = mkdtempSync(join(tmpdir(), 'bucketflow-test-'));
  process.env.TMPDIR = root;
  return () => {
    if (outer === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = outer;
    const left = readdirSync(root).filter((name) => !expected.has(name));
    rmSync(root, { recursive: true, force: true });
    if (left.length > 0) {
      // vitest reports an error thrown here but still exits 0 when every test passed.
      process.exitCode = 1;
      throw new Error(`the tests left ${left.length} temp entr${left.length === 1 ? 'y' : 'ies'} behind (removed now): ${left.join(', ')}; remove what a test makes in its afterAll/finally`);
    }
  };
}
