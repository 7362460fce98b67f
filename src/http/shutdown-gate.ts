// During a shutdown: every answer tells the client to reconnect (to another replica), and once the delay is
// over new requests are refused with 503 and Retry-After while the ones in flight finish.
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { reject } from '../wire/reject.ts';
import { PROBE_PATHS } from './auth.ts';
import type { AppEnv } from './context.ts';
import { routerError } from '../wire/errors.ts';

/**
 * `serving`; `draining` (readiness 503, new requests still served, so load balancers notice); `closing`
 * (new requests refused while in-flight work finishes).
 */
export type ShutdownPhase = 'serving' | 'draining' | 'closing';

export interface ShutdownGateDeps {
  readonly phase: () => ShutdownPhase;
  readonly metrics: Metrics;
  readonly log: Logger;
}

/** Seconds a refused client should wait: by then a load balancer has moved it to another replica. */
const RETRY_AFTER_SECS = 1;

export function shutdownGate(deps: ShutdownGateDeps): MiddlewareHandler<AppEnv> {
  // Not async: while serving (every request but those of a shutdown) the gate hands back next()'s own promise.
  return (c, next) => {
    const phase = deps.phase();
    if (phase === 'serving') return next();
    // Probes keep answering (readiness says 503 itself), so the orchestrator sees the drain rather than a dead process.
    if (phase === 'closing' && !PROBE_PATHS.has(c.req.path)) return Promise.resolve(refuseWhileClosing(deps, c.get('requestId')));
    return next().then(() => {
      // A kept-alive connection would keep bringing this client back to a router that is going away.
      c.res.headers.set('connection', 'close');
    });
  };
}

/** The answer to a new request once the router is closing: 503, Retry-After, and the connection closed. */
export function refuseWhileClosing(deps: ShutdownGateDeps, requestId: string): Response {
  return reject(deps, 'shutdown', requestId, routerError('shutting_down', 'The router is shutting down: send the request to another replica', { retryAfterSecs: RETRY_AFTER_SECS }), { connection: 'close' });
}
