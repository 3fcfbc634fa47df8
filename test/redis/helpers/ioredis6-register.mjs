// For the "redis (ioredis 6)" test project (vitest.config.ts puts this file in NODE_OPTIONS): makes
// the bare specifier 'ioredis' (and 'ioredis/...') load the devDependency alias 'ioredis6'
// (npm:ioredis@6) in the child processes the Redis tests start, as Vite's alias does in the tests.
import { register } from 'node:module';

register('./ioredis6-hooks.mjs', import.meta.url);
