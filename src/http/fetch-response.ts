// Responses of the fetch-style adapters (fetch handlers, Hono): standard Request and Response only.

import type { Decision } from '../types.js';
import type { Disconnect } from './core.js';
import type { HeaderSink } from './headers.js';

/** The default refusal. */
export function refusal(): Response {
  return new Response('Too Many Requests', { status: 429, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
}

/**
 * `response` with the rate-limit headers of `decision`, except those it already has (an
 * `onLimited` or handler may set its own). A response whose headers are immutable (one from
 * `fetch()`, `Response.redirect()`) is copied first.
 */
export function withHeaders(response: Response, limiter: { writeHeaders(decision: Decision, sink: HeaderSink): void }, decision: Decision): Response {
  let out = response;
  limiter.writeHeaders(decision, (name, value) => {
    if (response.headers.has(name)) return;
    try {
      out.headers.set(name, value);
    } catch {
      out = new Response(out.body, out);
      out.headers.set(name, value);
    }
  });
  return out;
}

/** The request's own signal: standard runtimes fire it when the client disconnects. */
export function requestGone(request: Request): Disconnect {
  return { signal: request.signal, release: noop };
}

function noop(): void {}
