// Every code block of README.md and docs/*.md runs, exactly as written, in a fresh app that installed
// the packed package: a block that only works next to the repository's sources, or with an import
// left out, or that never ends, fails here. The rules for info strings are in test/readme/blocks.ts.
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_MAX_LINES, allBlocks, codeLines, firstLine, killAll, makeBlockApp, needsRedis, runBlock, type Block, type BlockApp, type BlockResult } from './readme/blocks.js';
import { redisUrl } from './redis/helpers/env.js';

const BLOCK_TIMEOUT_MS = 30_000;
// Measured on two cores, 26 blocks: 13 s two at a time, 11 s four, 9 s eight. Four leaves room for the
// test files running beside this one in a full run.
const CONCURRENCY = 4;

const blocks = allBlocks();
const runnable = blocks.filter((b) => b.kind === 'ts' || b.kind === 'js');
const signatures = blocks.filter((b) => b.kind === 'signature');
const where = (b: Block) => `${b.file}:${b.line}`;

// The tail of a block's output, each line behind "| ": vitest would otherwise read the block's stack
// traces as the test's own and print a frame list per line.
function quote(output: string): string {
  if (output.trim() === '') return '| (nothing)';
  const lines = output.trimEnd().split('\n');
  const shown = lines.slice(-40).map((l) => `| ${l.length > 300 ? `${l.slice(0, 297)}...` : l}`);
  return (lines.length > 40 ? [`| (${lines.length - 40} earlier lines left out)`, ...shown] : shown).join('\n');
}

describe('documentation code blocks', () => {
  it('have info strings this test knows', () => {
    const unknown = blocks.filter((b) => b.kind === 'unknown').map((b) => `${where(b)} \`\`\`${b.info}`);
    expect(unknown, 'use ts, js, ts signature, js signature, or sh/bash/text/json/none for what is not code').toEqual([]);
  });

  it(`marked signature are fragments, at most ${SIGNATURE_MAX_LINES} lines`, () => {
    // Listed so a reviewer sees what is not run.
    console.log(`${signatures.length} signature block(s), not run:${signatures.map((b) => `\n  ${where(b)} ${firstLine(b)}`).join('')}`);
    const long = signatures.filter((b) => codeLines(b) > SIGNATURE_MAX_LINES).map((b) => `${where(b)}: ${codeLines(b)} lines`);
    expect(long, 'a block this long is code: run it (ts/js), or move it out of the docs').toEqual([]);
  });
});

describe('documentation code blocks run against the packed package', () => {
  const noRedis = redisUrl === '';
  const requireRedis = process.env.BUCKETFLOW_REQUIRE_REDIS === '1';
  if (noRedis && !requireRedis && runnable.some(needsRedis)) {
    console.warn(`\n!!! SKIPPING the documentation blocks that use Redis: no redis-server on PATH and no REDIS_URL. Set BUCKETFLOW_REQUIRE_REDIS=1 to make this an error. !!!\n`);
  }

  let app: BlockApp;
  // Every block starts as soon as the app exists, a few at a time; each test waits for its own.
  const results = new Map<Block, Promise<BlockResult>>();
  beforeAll(async () => {
    app = await makeBlockApp();
    const limit = pLimit(CONCURRENCY);
    for (const b of runnable) {
      if (needsRedis(b) && noRedis) continue;
      results.set(b, limit(() => runBlock(app, b, { REDIS_URL: redisUrl }, BLOCK_TIMEOUT_MS)));
    }
  }, 60_000);
  afterAll(async () => {
    killAll();
    await Promise.allSettled(results.values());
    app?.remove();
  });

  for (const b of runnable) {
    const name = `${where(b)} ${firstLine(b)}`;
    if (needsRedis(b) && noRedis && !requireRedis) {
      it.skip(`${name} (skipped: needs Redis, none available)`, () => {});
      continue;
    }
    // Waits for the block's turn too: up to one block ahead of it in each slot.
    it(name, async () => {
      if (needsRedis(b) && noRedis) expect.fail('needs Redis (BUCKETFLOW_REQUIRE_REDIS=1): install Redis 7 (redis-server) or set REDIS_URL');
      const r = await results.get(b)!;
      if (r.exitCode === 0) return;
      const why = r.timedOut
        ? `did not exit within ${BLOCK_TIMEOUT_MS / 1000} s (a block that starts a server must close it)`
        : `exited with ${r.exitCode ?? r.signal}`;
      expect.fail(`${where(b)} (${r.file} in the app) ${why}\n--- stdout ---\n${quote(r.stdout)}\n--- stderr ---\n${quote(r.stderr)}`);
    }, 2 * BLOCK_TIMEOUT_MS + 10_000);
  }
});
