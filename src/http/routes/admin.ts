// Endpoint management: the Rust router's admin routes (add, remove, list, inspect), behind the admin check.
//
// Shapes follow vllm-project/router where it has one (`{"urls":[…]}`, the `Successfully added worker: <u>`
// texts, `{"success","message","worker"}`); errors use the OpenAI envelope like every other router error.
// Differences: an add is refused when the endpoint fails its health probe (502) or is already known (409),
// a remove of an unknown endpoint is a 404 (Rust always said it succeeded), and `wait=true` on a remove
// answers only once the endpoint's in-flight requests have finished (or the drain timeout passed).
import type { Hono, MiddlewareHandler } from 'hono';
import { z } from 'zod';
import type { Endpoint, EndpointRole } from '../../core/endpoint.ts';
import type { AddResult, EndpointManager, RemoveResult } from '../../core/endpoint-manager.ts';
import type { EndpointRegistry } from '../../core/registry.ts';
import type { Logger } from '../../log/logger.ts';
import { parseJsonObject, readBytes } from '../body.ts';
import { pathAndQuery, type AppContext, type AppEnv } from '../context.ts';
import { errorResponse, isRouterError, routerError, type RouterError, type RouterErrorKind } from '../../wire/errors.ts';
import { isEngineAdminPath } from '../../wire/engine-paths.ts';
import { addFleetRoutes, type GrpcLoad } from './admin-fleet.ts';

export interface AdminDeps {
  readonly manager: EndpointManager;
  readonly registry: EndpointRegistry;
  readonly log: Logger;
  /** The admin check (auth.ts adminAuth), run before every admin route. */
  readonly auth: MiddlewareHandler<AppEnv>;
  /** --api-key, sent to endpoints by /flush_cache and /get_loads. */
  readonly apiKey: string | undefined;
  /** Bound on each call /flush_cache and /get_loads make to an endpoint. */
  readonly endpointTimeoutMs: number;
  /** The scheduler load of a grpc:// endpoint (GetLoads), which has no /metrics. */
  readonly grpcLoad?: (url: string) => Promise<GrpcLoad>;
}

const ADMIN_PATHS = ['/add_worker', '/remove_worker', '/list_workers', '/flush_cache', '/get_loads', '/workers'] as const;
const ADMIN_PATH_SET: ReadonlySet<string> = new Set(ADMIN_PATHS);

/**
 * Paths behind the admin check: the router's admin API and the engines' administrative routes that the
 * catch-all forwards (engine-paths.ts). The client-key check skips them: they have their own.
 */
export function isAdminPath(path: string): boolean {
  return ADMIN_PATH_SET.has(path) || path.startsWith('/workers/') || isEngineAdminPath(path);
}

const ROLES = ['regular', 'prefill', 'decode'] as const;
const MAX_BODY = 64 * 1024;

/** POST /workers, as the Rust router's WorkerConfigRequest (priority and cost are accepted and unused), plus `models`. */
const WorkerRequest = z.strictObject({
  url: z.string().min(1),
  worker_type: z.enum(ROLES).optional(),
  bootstrap_port: z.number().int().min(1).max(65535).nullable().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  tags: z.array(z.string()).optional(),
  /** Where the engine publishes its KV-cache events (kv_aware), when --kv-events-port does not say. */
  kv_events_endpoint: z.string().regex(/^tcp:\/\/[^\s/:]+:\d{1,5}$/, 'expected tcp://HOST:PORT').optional(),
  /** The models it serves; without them they are read from its /v1/models. */
  models: z.array(z.string().min(1)).min(1, 'must list at least one model (or leave models out)').optional(),
  /** The Rust router's field; its routing never read it (typed handlers pass no model), so neither does this one. */
  model_id: z.string().nullable().optional(),
  priority: z.number().nullable().optional(),
  cost: z.number().nullable().optional(),
});

/** What the admin API shows of an endpoint (the Rust fields first, then this router's own). */
export function workerView(e: Endpoint) {
  return {
    url: e.id,
    worker_type: e.role,
    is_healthy: e.healthy,
    load: e.inFlight,
    connection_mode: 'Http',
    bootstrap_port: e.bootstrapPort,
    base_url: e.url,
    dp_rank: e.dpRank ?? null,
    in_flight: e.inFlight,
    draining: e.draining,
    sleeping: e.sleeping,
    circuit_breaker: e.breaker.state,
    labels: e.labels,
    tags: e.tags,
    kv_events_endpoint: e.kvEventsEndpoint ?? null,
    /** What it serves (null: not known yet, so it may take any model); `models_source` says where that came from. */
    models: e.models === undefined ? null : [...e.models],
    models_source: e.modelsConfigured ? 'configured' : e.models === undefined ? 'unknown' : 'listed',
  };
}

const KIND_OF_STATUS: Partial<Record<number, RouterErrorKind>> = { 404: 'not_found', 502: 'upstream_unreachable' };
const failure = (status: number, message: string, param?: string) => routerError(KIND_OF_STATUS[status] ?? 'invalid_body', message, { status, param });
const fail = (c: AppContext, e: RouterError) => errorResponse(e, c.get('requestId') ?? '');

function bootstrapPortOf(raw: string | undefined): number | null | RouterError {
  if (raw === undefined || raw.toLowerCase() === 'none') return null;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return failure(400, `bootstrap_port must be a port number (1-65535) or none, not ${JSON.stringify(raw)}`, 'bootstrap_port');
  return port;
}

function roleOf(raw: string | undefined): EndpointRole | RouterError {
  if (raw === undefined) return 'regular';
  if ((ROLES as readonly string[]).includes(raw)) return raw as EndpointRole;
  return failure(400, `worker_type must be one of ${ROLES.join(', ')}, not ${JSON.stringify(raw)}`, 'worker_type');
}

/** The endpoint key after `/workers/`, percent-decoded (`/workers/http%3A%2F%2Fhost%3A8000`; raw slashes work too). */
function keyInPath(c: AppContext): string | RouterError {
  const path = pathAndQuery(c.req.raw.url);
  const query = path.indexOf('?');
  const raw = path.slice(0, query === -1 ? undefined : query).slice('/workers/'.length);
  // Hono's `/workers/*` also matches `/workers` itself: no key there.
  if (!path.startsWith('/workers/') || raw === '') return routerError('method_not_allowed', `${c.req.method} is not allowed on /workers`);
  try {
    return decodeURIComponent(raw);
  } catch {
    return failure(400, `The endpoint in the path is not valid percent-encoding: ${raw}`);
  }
}

const wantsWait = (c: AppContext) => ['1', 'true', 'yes'].includes((c.req.query('wait') ?? '').toLowerCase());

const drainSummary = async (removed: Extract<RemoveResult, { ok: true }>) => {
  const d = await removed.drained;
  return { drained: d.drained, in_flight: d.inFlight, waited_ms: Math.round(d.waitedMs) };
};

export function addAdminRoutes(app: Hono<AppEnv>, deps: AdminDeps): void {
  const { manager, registry, auth } = deps;
  const addFailed = (c: AppContext, r: Extract<AddResult, { ok: false }>) => fail(c, failure(r.status, r.message, r.param));

  app.post('/add_worker', auth, async (c) => {
    const url = c.req.query('url');
    if (url === undefined || url === '') return fail(c, failure(400, 'The url query parameter is required', 'url'));
    const role = roleOf(c.req.query('worker_type'));
    if (isRouterError(role)) return fail(c, role);
    const bootstrapPort = bootstrapPortOf(c.req.query('bootstrap_port'));
    if (isRouterError(bootstrapPort)) return fail(c, bootstrapPort);
    const added = await manager.add({ url, role, bootstrapPort });
    if (!added.ok) return addFailed(c, added);
    return c.text(`Successfully added worker: ${added.endpoint.url}`);
  });

  app.post('/remove_worker', auth, async (c) => {
    const url = c.req.query('url');
    if (url === undefined || url === '') return fail(c, failure(400, 'The url query parameter is required', 'url'));
    const removed = manager.remove(url);
    if (!removed.ok) return fail(c, failure(removed.status, removed.message));
    if (!wantsWait(c)) return c.text(`Successfully removed worker: ${url}`);
    const d = await drainSummary(removed);
    return c.text(d.drained ? `Successfully removed worker: ${url}` : `Removed worker: ${url}; ${d.in_flight} requests still in flight after the drain timeout`);
  });

  app.get('/list_workers', auth, (c) => c.json({ urls: registry.all().map((e) => e.id) }));

  app.post('/workers', auth, async (c) => {
    const bytes = await readBytes(c.req.raw, MAX_BODY);
    if (isRouterError(bytes)) return fail(c, bytes);
    const json = parseJsonObject(bytes);
    if (isRouterError(json)) return fail(c, json);
    const parsed = WorkerRequest.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const param = issue.path.join('.') || null;
      return fail(c, failure(400, param === null ? issue.message : `${param}: ${issue.message}`, param ?? undefined));
    }
    const body = parsed.data;
    const added = await manager.add({ url: body.url, role: body.worker_type ?? 'regular', bootstrapPort: body.bootstrap_port ?? null, labels: body.labels, tags: body.tags, kvEventsEndpoint: body.kv_events_endpoint, models: body.models });
    if (!added.ok) return addFailed(c, added);
    return c.json({ success: true, message: `Successfully added worker: ${added.endpoint.url}`, worker: workerView(added.endpoint) });
  });

  app.get('/workers', auth, (c) => {
    const all = registry.all();
    const count = (role: EndpointRole) => registry.all(role).length;
    return c.json({
      workers: [...all, ...manager.draining()].map(workerView),
      total: all.length,
      stats: { prefill_count: count('prefill'), decode_count: count('decode'), regular_count: count('regular') },
    });
  });

  app.get('/workers/*', auth, (c) => {
    const key = keyInPath(c);
    if (isRouterError(key)) return fail(c, key);
    const found = manager.find(key);
    if (found.length === 0) return fail(c, failure(404, `Worker ${key} not found`));
    // A base URL with data-parallel ranks names several endpoints.
    return found.length === 1 ? c.json(workerView(found[0]!)) : c.json({ url: key, ranks: found.map(workerView) });
  });

  app.delete('/workers/*', auth, async (c) => {
    const key = keyInPath(c);
    if (isRouterError(key)) return fail(c, key);
    const removed = manager.remove(key);
    if (!removed.ok) return fail(c, failure(removed.status, removed.message));
    const worker = removed.endpoints[0] === undefined ? null : workerView(removed.endpoints[0]);
    const drain = wantsWait(c) ? await drainSummary(removed) : undefined;
    return c.json({ success: true, message: `Worker ${key} removed successfully`, worker, ...(drain && { drain }) });
  });

  addFleetRoutes(app, deps);

  // Any other method on an admin path is answered here, after the admin check, never proxied to an endpoint.
  for (const path of [...ADMIN_PATHS, '/workers/*']) {
    app.all(path, auth, (c) => fail(c, routerError('method_not_allowed', `${c.req.method} is not allowed on ${c.req.path}`)));
  }
}
