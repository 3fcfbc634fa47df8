// Private redis-server processes for the tests: a single server on a free port, or a 3-master
// Cluster. Every pid is also written to a directory the global setup owns, which kills whatever
// is left when the run ends (a test file that crashed cannot stop its own servers).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** True when a `redis-server` binary can be run here. */
export function haveRedisServer(): boolean {
  const r = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  return r.status === 0;
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitForPing(port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const c = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    c.on('error', () => {});
    try {
      await c.connect();
      if ((await c.ping()) === 'PONG') return;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within ${ms} ms`);
      await sleep(30);
    } finally {
      c.disconnect();
    }
  }
}

/** A redis-server process the test controls (kill it, start it again on the same port). */
export class RedisServer {
  readonly port: number;
  readonly url: string;
  #proc: ChildProcess | undefined;
  readonly #args: string[];
  readonly #pidDir: string | undefined;

  private constructor(port: number, args: string[], pidDir: string | undefined) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.#args = args;
    this.#pidDir = pidDir;
  }

  /** Starts `redis-server --port <free> --save '' --appendonly no` plus `args`, and waits for PING. */
  static async start(options: { pidDir?: string; args?: string[]; port?: number } = {}): Promise<RedisServer> {
    const port = options.port ?? (await freePort());
    const s = new RedisServer(port, options.args ?? [], options.pidDir);
    await s.restart();
    return s;
  }

  get running(): boolean {
    return this.#proc !== undefined && this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  /** Starts the server (again) on the same port. */
  async restart(): Promise<void> {
    const proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...this.#args], {
      stdio: 'ignore',
    });
    this.#proc = proc;
    if (proc.pid !== undefined && this.#pidDir !== undefined) writeFileSync(join(this.#pidDir, String(proc.pid)), '');
    await waitForPing(this.port);
  }

  /** Kills the server hard (SIGKILL) and waits until it is gone. */
  async kill(): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined || !this.running) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGKILL');
    await exited;
    if (proc.pid !== undefined && this.#pidDir !== undefined) rmSync(join(this.#pidDir, String(proc.pid)), { force: true });
  }

  stop(): Promise<void> {
    return this.kill();
  }

  /**
   * Freezes the server (SIGSTOP): connections stay open, commands wait unanswered until
   * {@link resume}. Returns once the kernel reports it stopped: a signal is not delivered at once,
   * and a command sent in between would still be answered.
   */
  async pause(): Promise<void> {
    const proc = this.#proc;
    if (proc?.pid === undefined) return;
    proc.kill('SIGSTOP');
    // /proc/<pid>/stat: "pid (comm) state ...", state T once stopped. Where there is no /proc,
    // a moment is all that can be given.
    const stat = `/proc/${proc.pid}/stat`;
    if (!existsSync(stat)) return sleep(50);
    const deadline = Date.now() + 5000;
    while (!/\) T /.test(readFileSync(stat, 'utf8'))) {
      if (Date.now() > deadline) throw new Error(`redis-server ${proc.pid} did not stop within 5 s of SIGSTOP`);
      await sleep(1);
    }
  }

  /** Lets a paused server run again (SIGCONT): it then runs every command that waited, in order. */
  resume(): void {
    this.#proc?.kill('SIGCONT');
  }
}

/** A 3-master Redis Cluster on free ports (no replicas), ready when every slot is served. */
export class RedisCluster {
  readonly nodes: RedisServer[];
  readonly #dir: string;

  private constructor(nodes: RedisServer[], dir: string) {
    this.nodes = nodes;
    this.#dir = dir;
  }

  static async start(pidDir?: string): Promise<RedisCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'bucketflow-cluster-'));
    const nodes: RedisServer[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        nodes.push(await RedisServer.start({
          pidDir,
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `node-${i}.conf`), '--dir', dir, '--cluster-node-timeout', '2000'],
        }));
      }
      const create = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
      const deadline = Date.now() + 20_000;
      for (const n of nodes) {
        const c = new Redis({ port: n.port });
        try {
          while (!String(await c.cluster('INFO')).includes('cluster_state:ok')) {
            if (Date.now() > deadline) throw new Error('the test cluster did not reach cluster_state:ok');
            await sleep(50);
          }
        } finally {
          c.disconnect();
        }
      }
      return new RedisCluster(nodes, dir);
    } catch (error) {
      for (const n of nodes) await n.kill();
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) await n.kill();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
