// Module resolution hook registered by ioredis6-register.mjs: 'ioredis' → 'ioredis6'.
// (Node 20 applies it to import, not to require(): the code under test imports ioredis.)
export async function resolve(specifier, context, nextResolve) {
  const m = /^ioredis(\/.*)?$/.exec(specifier);
  return nextResolve(m ? `ioredis6${m[1] ?? ''}` : specifier, context);
}
