// The client libraries besides ioredis that bucketflow/redis supports, each as the tests make a
// connection with it: node-redis 6 (the `redis` devDependency), node-redis 5 (`redis5`, an npm
// alias of redis@5) and iovalkey. ioredis 5 and 6 have their own vitest projects; these run in the
// ioredis 5 one only (test/redis/clients/ is left out of the other in vitest.config.ts, and
// behaviour.test.ts asks), so each is tested once.

import { createRequire } from 'node:module';
import { Redis as ValkeyRedis, Cluster as ValkeyCluster } from 'iovalkey';
import { createClient as createClient6, createCluster as createCluster6 } from 'redis';
import { createClient as createClient5, createCluster as createCluster5 } from 'redis5';
import type { SupportedRedisClient } from '../../../src/redis/client.js';

/** The clients the tests make: `name` names the library and major in test titles. */
export interface ClientKind {
  /** e.g. 'node-redis 6'. */
  readonly name: string;
  /** The npm package (or alias) it comes from, and that package's installed version. */
  readonly packageName: string;
  readonly version: string;
  /** A connected client to one server at `url` (`redis://host:port`); options as that library takes them. */
  connect(url: string, options?: { keyPrefix?: string }): Promise<TestClient>;
  /** A connected Cluster client, seeded with the nodes at `urls`. */
  connectCluster(urls: string[]): Promise<TestClient>;
}

/** A connection a test made, as bucketflow takes it, and how to close it. */
export interface TestClient {
  readonly redis: SupportedRedisClient;
  /** Runs one raw command (to check what the server holds). */
  command(args: string[], key?: string): Promise<unknown>;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);
const versionOf = (name: string): string => (require(`${name}/package.json`) as { version: string }).version;

/** What the tests use of a node-redis client or cluster, the same in both majors. */
interface NodeRedisConnection {
  on(event: 'error', listener: () => void): unknown;
  connect(): Promise<unknown>;
  destroy(): unknown;
}

function nodeRedis(major: 5 | 6): ClientKind {
  // Each major's own types; what the tests do with them is the same.
  const createClient = (options: { url: string; keyPrefix?: string }) => (major === 6 ? createClient6(options) : createClient5(options));
  const createCluster = (options: { rootNodes: { url: string }[] }) => (major === 6 ? createCluster6(options) : createCluster5(options));
  const packageName = major === 6 ? 'redis' : 'redis5';
  return {
    name: `node-redis ${major}`,
    packageName,
    version: versionOf(packageName),
    async connect(url, options) {
      if (options?.keyPrefix !== undefined && major === 5) throw new Error('node-redis 5 has no keyPrefix option');
      const client = createClient({ url, ...(options?.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }) });
      (client as NodeRedisConnection).on('error', () => {});
      await (client as NodeRedisConnection).connect();
      return {
        redis: client,
        command: (args) => client.sendCommand(args),
        close: async () => {
          (client as NodeRedisConnection).destroy();
        },
      };
    },
    async connectCluster(urls) {
      const cluster = createCluster({ rootNodes: urls.map((url) => ({ url })) });
      (cluster as NodeRedisConnection).on('error', () => {});
      await (cluster as NodeRedisConnection).connect();
      return {
        redis: cluster,
        command: (args, key) => cluster.sendCommand(key, false, args),
        close: async () => {
          (cluster as NodeRedisConnection).destroy();
        },
      };
    },
  };
}

const iovalkey: ClientKind = {
  name: 'iovalkey',
  packageName: 'iovalkey',
  version: versionOf('iovalkey'),
  async connect(url, options) {
    const client = new ValkeyRedis(url, { keyPrefix: options?.keyPrefix });
    client.on('error', () => {});
    await client.ping();
    return { redis: client, command: (args) => client.call(args[0]!, ...args.slice(1)), close: async () => client.disconnect() };
  },
  async connectCluster(urls) {
    const cluster = new ValkeyCluster(urls.map((url) => {
      const u = new URL(url);
      return { host: u.hostname, port: Number(u.port) };
    }));
    cluster.on('error', () => {});
    await cluster.ping();
    return { redis: cluster, command: (args) => cluster.call(args[0]!, ...args.slice(1)), close: async () => cluster.disconnect() };
  },
};

/** node-redis 6, node-redis 5, iovalkey. */
export const otherClients: readonly ClientKind[] = [nodeRedis(6), nodeRedis(5), iovalkey];

/** The node-redis majors only. */
export const nodeRedisClients: readonly ClientKind[] = otherClients.filter((k) => k.name.startsWith('node-redis'));
