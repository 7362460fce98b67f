// Regular mode: pick an endpoint with the policy, send the request there, relay the answer, account for it.
import type { EndpointRegistry } from '../core/registry.ts';
import type { Endpoint } from '../core/endpoint.ts';
import { routerError, type RouterError, isRouterError } from '../http/errors.ts';
import { upstreamHeaders } from '../http/forward-headers.ts';
import type { Logger } from '../log/logger.ts';
import { statusClass, type Metrics } from '../metrics/metrics.ts';
import type { Policy } from '../policies/types.ts';
import { abortOnClientOrDeadline } from './deadline.ts';
import { callUpstream, relay } from './proxy.ts';
import { reject } from './reject.ts';
import { createRoutingRequest } from './routing-request.ts';

export interface RegularRouterDeps {
  readonly registry: EndpointRegistry;
  readonly policy: Policy;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Milliseconds on a monotonic clock. */
  readonly now: () => number;
  readonly requestTimeoutMs: number;
  /** Sent as the bearer token to endpoints instead of the client's, when configured (--api-key). */
  readonly apiKey: string | undefined;
}

/** One client request as the routing layer needs it: read once, routed once. */
export interface ProxyRequest {
  /** Metrics and policy label: the router path (`/v1/chat/completions`), or `fallback`. */
  readonly route: string;
  /** Path and query string sent to the endpoint. */
  readonly upstreamPath: string;
  readonly method: string;
  readonly headers: Headers;
  readonly bytes: Uint8Array | null;
  readonly json: Record<string, unknown> | undefined;
  readonly requestId: string;
  readonly clientSignal: AbortSignal;
  readonly startedAt: number;
}

export interface RegularRouter {
  route(req: ProxyRequest): Promise<Response>;
  /** Picks an endpoint without sending anything (used by info routes). */
  pick(req: ProxyRequest): Endpoint | RouterError;
}

export function createRegularRouter(deps: RegularRouterDeps): RegularRouter {
  const { registry, policy, metrics } = deps;

  const fail = (req: ProxyRequest, e: RouterError): Response => reject(deps, req.route, req.requestId, e);

  const pick = (req: ProxyRequest): Endpoint | RouterError => {
    const candidates = registry.available('regular');
    if (candidates.length === 0) return routerError('no_available_endpoints', 'No available endpoints (all unhealthy, circuits open or none registered)');
    const request = createRoutingRequest(req.route, req.headers, req.json, req.bytes ?? new Uint8Array(0));
    const chosen = policy.select({ candidates, all: registry.all('regular'), request });
    if (chosen === undefined) return routerError('no_available_endpoints', `Policy ${policy.name} found no endpoint for this request`);
    return chosen;
  };

  return {
    pick,
    async route(req) {
      const endpoint = pick(req);
      if (isRouterError(endpoint)) return fail(req, endpoint);

      const extra: Record<string, string> = {};
      if (deps.apiKey !== undefined) extra.authorization = `Bearer ${deps.apiKey}`;
      if (endpoint.dpRank !== undefined) extra['x-data-parallel-rank'] = String(endpoint.dpRank);
      const abort = abortOnClientOrDeadline(req.clientSignal, deps.requestTimeoutMs);

      endpoint.inFlight++;
      metrics.running.inc({ worker: endpoint.id });
      metrics.processed.inc({ worker: endpoint.id });
      metrics.policyDecisions.inc({ policy: policy.name, worker: endpoint.id });
      const release = () => {
        abort.done();
        endpoint.inFlight--;
        metrics.running.dec({ worker: endpoint.id });
      };

      const upstream = await callUpstream({
        url: endpoint.url + req.upstreamPath,
        method: req.method,
        headers: upstreamHeaders(req.headers, req.requestId, extra),
        body: req.bytes,
        signal: abort.signal,
        timedOut: () => abort.timedOut,
      });
      if (isRouterError(upstream)) {
        release();
        return fail(req, upstream);
      }
      const status = upstream.status;
      return relay(upstream, req.requestId, {
        onEnd(outcome) {
          release();
          metrics.requests.inc({ route: req.route, status: statusClass(status) });
          metrics.requestDuration.observe({ route: req.route }, (deps.now() - req.startedAt) / 1000);
          metrics.streamOutcomes.inc({ route: req.route, outcome });
          if (outcome !== 'complete')
            deps.log.warn('response body did not complete', { request_id: req.requestId, route: req.route, endpoint: endpoint.id, outcome });
        },
      });
    },
  };
}
