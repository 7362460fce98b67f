// createApp: the router's HTTP surface as a Hono app, built from its dependencies (no module-level state).
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import type { Config } from './config/schema.ts';
import type { Admission } from './core/admission.ts';
import type { EndpointRegistry } from './core/registry.ts';
import type { ModelCatalog } from './core/model-catalog.ts';
import type { ModelRefresher } from './core/model-reader.ts';
import type { TokenizerPool } from './pool/pool.ts';
import { addTokenizeRoute } from './http/routes/router-tokenize.ts';
import { pathOf, type AppEnv } from './http/context.ts';
import { errorResponse, routerError, type RouterError } from './wire/errors.ts';
import { adminAuth, adminCheck, inferenceAuth, PROBE_PATHS } from './http/auth.ts';
import { forwardRules } from './wire/engine-paths.ts';
import type { ApiKeyValidator } from './http/api-key-validator.ts';
import { addAdminRoutes, isAdminPath } from './http/routes/admin.ts';
import type { GrpcLoad } from './http/routes/admin-fleet.ts';
import type { EndpointManager } from './core/endpoint-manager.ts';
import { DEFAULT_REQUEST_ID_HEADERS, requestIdFor, requestIdSource } from './http/request-id.ts';
import { createBodyBudget, inflightBodyBytes } from './http/body-budget.ts';
import type { BodyLimits } from './http/body.ts';
import { addFallbackRoute } from './http/routes/fallback.ts';
import { addProductionStackRoutes } from './http/routes/production-stack.ts';
import { addFinishSessionRoute, type SessionRelease } from './http/routes/finish-session.ts';
import { addInferenceRoutes, handleInference, INFERENCE_ROUTE_SET, type InferenceDeps } from './http/routes/inference.ts';
import { addInfoRoutes } from './http/routes/info.ts';
import { addResponsesRoutes } from './http/routes/responses.ts';
import type { Logger } from './log/logger.ts';
import type { Metrics } from './metrics/metrics.ts';
import { serverSpan } from './http/server-span.ts';
import type { QoeOptions } from './policies/qoe/options.ts';
import { NOOP_TRACER, type Tracer } from './tracing/tracer.ts';
import type { Router } from './routing/router.ts';
import { countRefusal, reject } from './wire/reject.ts';
import { refuseWhileClosing, shutdownGate, type ShutdownPhase } from './http/shutdown-gate.ts';
import type { AdmitDeps } from './http/admit.ts';
import type { KvEventsReader } from './signals/kv-events/kv-events.ts';

export interface AppDeps {
  readonly config: Config;
  readonly registry: EndpointRegistry;
  /** The router the routes send requests to (routing/router-factory.ts built it for the routing mode). */
  readonly router: Router;
  /** Prefill/decode mode: readiness needs a healthy endpoint of each role. */
  readonly pdMode: boolean;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Monotonic milliseconds. */
  readonly now: () => number;
  readonly random: () => number;
  readonly admission: Admission;
  /** The tokenizer pool, when --tokenizer-path or --model-path is set. */
  readonly pool?: TokenizerPool;
  /** The engines' KV-cache events, when kv_aware routes on them (shown by /router/tokenize). */
  readonly kvEvents?: KvEventsReader;
  /** Where a shutdown stands: readiness and new requests follow it. */
  readonly shutdownPhase: () => ShutdownPhase;
  /** --enable-trace: spans for each request; absent means tracing off. */
  readonly tracer?: Tracer;
  /** QoE settings: the priority header (admission order) and the targets the experience metrics judge by. */
  readonly qoe: QoeOptions;
  /** Adds and removes endpoints at run time (admin API). */
  readonly endpoints: EndpointManager;
  /** What each endpoint serves (GET /v1/models) and --static-aliases (rewritten in request bodies). */
  readonly models?: { readonly catalog: ModelCatalog; readonly aliases: ReadonlyMap<string, string>; readonly refresher: Pick<ModelRefresher, 'refresh'> };
  /** Client keys accepted as they are (--api-key-file, --api-keys / VLLM_ROUTER_API_KEYS). */
  readonly staticKeys?: readonly string[];
  /** --api-key-validation-urls. */
  readonly keyValidator?: ApiKeyValidator;
  /** The policy slots, which /finish_session releases sessions from. */
  readonly sessions?: SessionRelease;
  /** The router's version (/version with --production-stack-api). */
  readonly version?: string;
  /** --metrics-on-router-port: the Prometheus page, served at /metrics on this listener. */
  readonly metricsPage?: () => Promise<Response>;
  /** The model cards of a grpc:// endpoint (its model info), for /v1/models. */
  readonly grpc?: {
    readonly models: (url: string) => Promise<readonly Record<string, unknown>[]>;
    readonly load: (url: string) => Promise<GrpcLoad>;
  };
}

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const { config, metrics, log } = deps;
  const tracer = deps.tracer ?? NOOP_TRACER;
  const app = new Hono<AppEnv>({ getPath: pathOf });
  const requestTimeoutMs = config.request_timeout_secs * 1000;
  const idHeaders = config.request_id_headers.length > 0 ? config.request_id_headers.map((h) => h.toLowerCase()) : DEFAULT_REQUEST_ID_HEADERS;

  const corsHandler =
    config.cors_allowed_origins.length === 0
      ? cors({ exposeHeaders: ['x-request-id'] })
      : cors({ origin: config.cors_allowed_origins, allowMethods: ['GET', 'POST', 'OPTIONS'], allowHeaders: ['Content-Type', 'Authorization'], exposeHeaders: ['x-request-id'], maxAge: 3600 });
  // CORS concerns browsers only: requests without an Origin header skip it (most traffic, on the hot path).
  app.use('*', (c, next) => (c.req.raw.headers.has('origin') ? corsHandler(c, next) : next()));
  const ids = requestIdSource(deps.random);
  // Not async: a plain function returning next()'s promise adds no promise and no state machine of its own.
  app.use('*', (c, next) => {
    const id = requestIdFor(c.req.raw.headers, idHeaders, c.req.path, ids);
    c.set('requestId', id);
    c.set('startedAt', deps.now());
    return next().then(() => {
      if (!c.res.headers.has('x-request-id')) c.res.headers.set('x-request-id', id);
    });
  });
  app.use('*', shutdownGate({ phase: deps.shutdownPhase, metrics, log }));
  if (tracer.enabled) app.use('*', serverSpan(tracer));
  const countAuthRefusal = (path: string, e: RouterError) => countRefusal(metrics, isAdminPath(path) ? 'admin' : 'auth', e);
  // Before the routes, so a refused client never takes an admission slot.
  const clientAuth = inferenceAuth({ staticKeys: deps.staticKeys ?? [], validator: deps.keyValidator, log, count: countAuthRefusal, isExempt: (p) => PROBE_PATHS.has(p) || isAdminPath(p) });
  if (clientAuth !== undefined) app.use('*', clientAuth);

  const { router } = deps;
  addInfoRoutes(app, { registry: deps.registry, metrics, log, apiKey: config.api_key, probeTimeoutMs: config.health_check_timeout_secs * 1000, isDraining: () => deps.shutdownPhase() !== 'serving', pdMode: deps.pdMode, processHealth: config.production_stack_api, catalog: deps.models?.catalog, ...(deps.grpc ? { grpcModels: deps.grpc.models } : {}) });
  // One budget for every route that reads a request body (--max-inflight-body-bytes).
  const budget = createBodyBudget(inflightBodyBytes(config.max_inflight_body_bytes, config.max_payload_size), (held) => metrics.bodyBytesHeld.set(held));
  metrics.bodyBytesLimit.set(budget.limit);
  const bodyLimits: BodyLimits = {
    maxBytes: config.max_payload_size,
    budget,
    onOverBudget: () => metrics.admissionRejections.inc({ reason: 'body_budget' }),
    readTimeoutMs: config.body_read_timeout_secs * 1000,
  };
  const admitDeps: AdmitDeps = { admission: deps.admission, metrics, tracer, now: deps.now, priorityHeader: deps.qoe.headers.priority };
  const aliases = deps.models?.aliases;
  const models = deps.models;
  const modelsChanged =
    models === undefined
      ? undefined
      : async (id: string) => {
          const endpoint = deps.registry.get(id);
          if (endpoint !== undefined) await models.refresher.refresh(endpoint.url, true);
        };
  const inferenceDeps: InferenceDeps = { router, log, bodyLimits, openAiBackend: config.backend === 'openai', aliases, ...admitDeps };
  addInferenceRoutes(app, inferenceDeps);
  if (deps.pool) addTokenizeRoute(app, { pool: deps.pool, metrics, log, bodyLimits, kvEvents: deps.kvEvents && { reader: deps.kvEvents, endpoints: () => deps.registry.all() } });
  const adminOptions = { adminApiKey: config.admin_api_key, log, count: countAuthRefusal };
  addAdminRoutes(app, {
    manager: deps.endpoints,
    registry: deps.registry,
    log,
    auth: adminAuth(adminOptions),
    apiKey: config.api_key,
    endpointTimeoutMs: config.health_check_timeout_secs * 1000,
    ...(deps.grpc ? { grpcLoad: deps.grpc.load } : {}),
  });
  if (config.production_stack_api)
    addProductionStackRoutes(app, { registry: deps.registry, metrics, log, adminAuth: adminAuth(adminOptions), apiKey: config.api_key, timeoutMs: config.health_check_timeout_secs * 1000, version: deps.version ?? 'dev' });
  if (deps.sessions) addFinishSessionRoute(app, { sessions: deps.sessions, metrics, log, sessionHeader: config.session_header });
  const page = deps.metricsPage;
  if (page) app.get('/metrics', () => page());
  addResponsesRoutes(app, { registry: deps.registry, metrics, log, apiKey: config.api_key, requestTimeoutMs });
  // An OpenAI-compatible API is not ours to expose path by path: unknown routes are 404 there (as in Rust).
  if (config.backend !== 'openai')
    addFallbackRoute(app, { router, log, bodyLimits, rules: forwardRules(config.forward_paths), adminCheck: adminCheck(adminOptions), aliases, modelsChanged, ...admitDeps });
  else app.all('*', (c) => reject({ metrics, log }, 'fallback', c.get('requestId'), routerError('not_found', `Unknown route: ${c.req.method} ${c.req.path} (--backend openai serves the OpenAI API routes only)`)));

  const internalError = (err: Error, id: string, path: string) => {
    log.error('unhandled error', { request_id: id, path, message: err.message });
    metrics.requestErrors.inc({ route: 'internal', error_type: 'internal' });
    return errorResponse(routerError('upstream_error', `Internal router error: ${err.message}`, { status: 500 }), id);
  };
  app.onError((err, c) => internalError(err, c.get('requestId') ?? 'unknown', c.req.path));

  // The inference routes' fast path: a POST to one of them is served without Hono's dispatch and middleware
  // chain (about a tenth of the router's CPU per request, bench/results/overhead-profile.md), doing what that
  // chain does for it: the request id, the arrival time, the shutdown gate, the id on the answer, the error
  // envelope. Only when nothing else applies: CORS (a request with an Origin), tracing, client keys.
  if (!tracer.enabled && clientAuth === undefined) {
    const honoFetch = app.fetch;
    const shutdown = { phase: deps.shutdownPhase, metrics, log };
    const serveInference = async (req: Request, route: string, server: Bun.Server<unknown> | undefined): Promise<Response> => {
      const requestId = requestIdFor(req.headers, idHeaders, route, ids);
      const startedAt = deps.now();
      const phase = deps.shutdownPhase();
      if (phase === 'closing') return refuseWhileClosing(shutdown, requestId);
      let res: Response;
      try {
        res = await handleInference({ raw: req, requestId, startedAt, server }, route, inferenceDeps);
      } catch (e) {
        return internalError(e as Error, requestId, route);
      }
      if (!res.headers.has('x-request-id')) res.headers.set('x-request-id', requestId);
      if (phase === 'draining') res.headers.set('connection', 'close');
      return res;
    };
    app.fetch = (req, env, ctx) => {
      if (req.method === 'POST' && !req.headers.has('origin')) {
        const path = pathOf(req);
        if (INFERENCE_ROUTE_SET.has(path)) return serveInference(req, path, (env as AppEnv['Bindings'] | undefined)?.server);
      }
      return honoFetch(req, env, ctx);
    };
  }
  return app;
}
