// Admin operations fanned out to every endpoint: /flush_cache and /get_loads, each endpoint reported on its own.
import type { Hono, MiddlewareHandler } from 'hono';
import { engineLoad, fetchLoadPage } from '../../signals/engine-load.ts';
import { isGrpcUrl } from '../../grpc/grpc-url.ts';
import type { Endpoint } from '../../core/endpoint.ts';
import { outboundFetch } from '../../net/fetch.ts';
import { redirectNote } from '../../net/redirect.ts';
import type { AppEnv } from '../context.ts';
import { errorResponse, routerError } from '../../wire/errors.ts';
import type { EndpointManager } from '../../core/endpoint-manager.ts';
import type { EndpointRegistry } from '../../core/registry.ts';
import type { Logger } from '../../log/logger.ts';

interface FlushResult {
  readonly worker: string;
  readonly ok: boolean;
  readonly status: number | null;
  readonly error?: string;
}

/** One entry per engine, not per data-parallel rank: ranks of a base URL share one server and its cache. */
const byBaseUrl = (endpoints: readonly Endpoint[]) => Map.groupBy(endpoints, (e) => e.url);

/** What the fleet-wide admin routes need (admin.ts's AdminDeps supplies it). */
export interface FleetDeps {
  readonly manager: EndpointManager;
  readonly registry: EndpointRegistry;
  readonly log: Logger;
  /** The admin check, run before each route. */
  readonly auth: MiddlewareHandler<AppEnv>;
  /** --api-key, sent to endpoints. */
  readonly apiKey: string | undefined;
  /** Bound on each call to an endpoint. */
  readonly endpointTimeoutMs: number;
  /** The scheduler load of a grpc:// endpoint (GetLoads), which has no /metrics. */
  readonly grpcLoad?: (url: string) => Promise<GrpcLoad>;
}

export type GrpcLoad = { readonly ok: true; readonly running: number; readonly waiting: number } | { readonly ok: false; readonly error: string };

export function addFleetRoutes(app: Hono<AppEnv>, deps: FleetDeps): void {
  const { registry, manager, auth } = deps;
  const headers = (requestId: string): Record<string, string> => ({
    'x-request-id': requestId,
    ...(deps.apiKey === undefined ? {} : { authorization: `Bearer ${deps.apiKey}` }),
  });

  // vLLM's route is POST /reset_prefix_cache (vllm/entrypoints/serve/cache/api_router.py), served only with
  // VLLM_SERVER_DEV_MODE=1. The Rust router posted /flush_cache, an SGLang route vLLM does not have.
  const flush = async (url: string, requestId: string): Promise<FlushResult> => {
    try {
      const res = await outboundFetch(`${url}/reset_prefix_cache`, {
        method: 'POST',
        headers: headers(requestId),
        signal: AbortSignal.timeout(deps.endpointTimeoutMs),
      });
      await res.body?.cancel().catch(() => {});
      if (res.ok) return { worker: url, ok: true, status: res.status };
      const hint = res.status === 404 ? ': vLLM serves /reset_prefix_cache only when started with VLLM_SERVER_DEV_MODE=1' : '';
      return { worker: url, ok: false, status: res.status, error: `/reset_prefix_cache answered ${res.status}${redirectNote(res.status)}${hint}` };
    } catch (e) {
      const err = e as Error;
      const error = err.name === 'TimeoutError' ? `no answer within ${deps.endpointTimeoutMs} ms` : `unreachable: ${err.message}`;
      return { worker: url, ok: false, status: null, error };
    }
  };

  app.post('/flush_cache', auth, async (c) => {
    const requestId = c.get('requestId') ?? '';
    const groups = byBaseUrl(registry.all());
    const targets = [...groups].filter(([, ranks]) => ranks.some((e) => e.healthy && !e.draining)).map(([url]) => url);
    const skipped = [...groups].filter(([url]) => !targets.includes(url)).map(([url]) => ({ worker: url, reason: 'unhealthy' }));
    if (targets.length === 0) return errorResponse(routerError('no_available_endpoints', 'No healthy endpoint to flush'), requestId);
    const results = await Promise.all(targets.map((url) => flush(url, requestId)));
    const done = results.filter((r) => r.ok).length;
    for (const r of results) if (!r.ok) deps.log.warn('cache flush failed', { endpoint: r.worker, error: r.error, request_id: requestId });
    // As the Rust PD router: 200 all, 206 some; none at all is the endpoints' failure, a 502.
    const status = done === results.length ? 200 : done > 0 ? 206 : 502;
    const message = status === 200 ? 'Cache flushed on all servers' : status === 206 ? `Partial success: cache flushed on ${done} of ${results.length} servers` : 'Cache flush failed on every server';
    return c.json({ message, results, skipped }, status);
  });

  // Each endpoint's own scheduler load (running + waiting) next to the router's in-flight count for it.
  // An endpoint whose /metrics cannot be read is reported with its error and `load: -1` (the Rust value
  // for "unknown"), never as an idle zero.
  app.get('/get_loads', auth, async (c) => {
    const endpoints = [...registry.all(), ...manager.draining()];
    const pages = new Map(
      await Promise.all(
        [...byBaseUrl(endpoints).keys()].map(async (url) => [url, isGrpcUrl(url) && deps.grpcLoad ? await deps.grpcLoad(url) : await fetchLoadPage(url, { timeoutMs: deps.endpointTimeoutMs, apiKey: deps.apiKey })] as const),
      ),
    );
    const workers = endpoints.map((e) => {
      const page = pages.get(e.url)!;
      // vLLM labels each data-parallel engine's series with `engine="<rank>"`; a gRPC engine's GetLoads is read already.
      const load = 'page' in page ? engineLoad(page.page, e.dpRank === undefined ? undefined : String(e.dpRank)) : page;
      const common = { worker: e.id, worker_type: e.role, router_in_flight: e.inFlight, draining: e.draining };
      return load.ok
        ? { ...common, load: load.running + load.waiting, running: load.running, waiting: load.waiting }
        : { ...common, load: -1, running: null, waiting: null, error: load.error };
    });
    return c.json({ workers });
  });
}
