// Noticing that a Node HTTP client went away while its request waits for tokens (Express,
// Connect and Fastify all sit on Node's request and response).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Disconnect } from './core.js';

/**
 * A signal that fires when the response closes before it was sent: the client disconnected (a
 * response that was sent closes too, but by then nothing waits). One listener while the request
 * waits, removed once the wait is over.
 */
export function clientGone(req: IncomingMessage, res: ServerResponse): Disconnect {
  const controller = new AbortController();
  const gone = (): void => {
    if (!res.writableFinished) controller.abort();
  };
  if (res.destroyed || req.socket?.destroyed) gone();
  else res.once('close', gone);
  return { signal: controller.signal, release: () => res.removeListener('close', gone) };
}
