// One measurement in a fresh process: `node --expose-gc child.mjs '<job json>'` (bench/run.ts
// bundles it to node_modules/.cache/bucketflow-bench/child.mjs). A fresh process
// per contender keeps one contender's JIT state, garbage and timers out of another's numbers.
import { suites } from './suites/index.js';
import type { Job } from './suites/types.js';

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '') as Job;
  const contender = suites[job.suite]?.[job.contender];
  if (contender === undefined) throw new Error(`no contender ${JSON.stringify(job.contender)} in row ${job.suite}`);
  const metrics = await contender(job);
  reply({ ok: true, metrics }, 0);
}

// Exit only once the parent has the message: queued waiters and timers would keep us alive.
// Run by hand (no IPC channel, e.g. under --cpu-prof), it prints the answer instead.
function reply(message: object, code: number): void {
  if (process.send === undefined) {
    console.log(JSON.stringify(message));
    process.exit(code);
  }
  process.send(message, undefined, {}, () => process.exit(code));
}

main().catch((error: unknown) => {
  reply({ ok: false, error: error instanceof Error ? error.stack ?? error.message : String(error) }, 1);
});
