// A router for admin and auth tests: the real registry, health probe, policy and regular router, the admin
// routes and both auth middlewares, served by Bun on port 0 the way server.ts serves the app.
import { Hono } from 'hono';
import { createEndpointManager, type EndpointManager } from '../../src/core/endpoint-manager.ts';
import { HealthChecker } from '../../src/core/health.ts';
import { createRegistry, type EndpointRegistry } from '../../src/core/registry.ts';
import { retryPolicy } from '../../src/core/retry.ts';
import { createVerdictCache } from '../../src/http/api-key-cache.ts';
import { createApiKeyValidator } from '../../src/http/api-key-validator.ts';
import { adminAuth, inferenceAuth, PROBE_PATHS } from '../../src/http/auth.ts';
import { allowLongRequest, pathOf, type AppEnv } from '../../src/http/context.ts';
import { DEFAULT_REQUEST_ID_HEADERS, requestIdFor, requestIdSource } from '../../src/http/request-id.ts';
import { addAdminRoutes, isAdminPath } from '../../src/http/routes/admin.ts';
import { createLogger } from '../../src/log/logger.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { createPolicy } from '../../src/policies/index.ts';
import { createRegularRouter } from '../../src/routing/regular.ts';
import { createEndpointStats } from '../../src/signals/endpoint-stats.ts';

export interface AdminRouterOptions {
  readonly endpoints?: readonly string[];
  readonly adminApiKey?: string;
  readonly staticKeys?: readonly string[];
  readonly validationUrls?: readonly string[];
  readonly positiveTtlMs?: number;
  readonly negativeTtlMs?: number;
  /** Clock of the verdict cache. */
  readonly now?: () => number;
  readonly drainTimeoutMs?: number;
  readonly hostname?: string;
}

export interface AdminRouter extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  readonly registry: EndpointRegistry;
  readonly manager: EndpointManager;
  /** Every URL the manager probed, in order. */
  readonly probed: string[];
  readonly logs: string[];
}

export async function startAdminRouter(options: AdminRouterOptions = {}): Promise<AdminRouter> {
  const logs: string[] = [];
  const log = createLogger({ level: 'debug', json: true, write: (l) => logs.push(l) });
  const metrics = createMetrics();
  const registry = createRegistry();
  for (const url of options.endpoints ?? []) registry.add({ url });
  const policy = createPolicy('round_robin', {
    random: Math.random,
    now: Date.now,
    options: { cacheThreshold: 0.3, balanceAbsThreshold: 64, balanceRelThreshold: 1.5, evictionIntervalSecs: 120, maxTreeSize: 1 << 20 },
  })!;
  registry.onChange((role) => policy.onMembershipChange?.(registry.all(role)));
  const health = new HealthChecker(registry, { intervalSecs: 60, timeoutSecs: 2, failureThreshold: 3, successThreshold: 2, path: '/health', apiKey: undefined }, metrics, log);
  const probed: string[] = [];
  const manager = createEndpointManager({
    registry,
    probe: (url) => (probed.push(url), health.probe(url)),
    log,
    drainTimeoutMs: options.drainTimeoutMs ?? 60_000,
    roles: ['regular'],
  });
  const router = createRegularRouter({
    registry,
    policy,
    metrics,
    log,
    stats: createEndpointStats(),
    retry: retryPolicy({ maxAttempts: 1, initialBackoffMs: 1, maxBackoffMs: 1, multiplier: 1, jitter: 0 }),
    now: () => performance.now(),
    random: Math.random,
    requestTimeoutMs: 60_000,
    stallTimeoutMs: 60_000,
    apiKey: undefined,
    modelLabel: () => 'm',
  });

  const app = new Hono<AppEnv>({ getPath: pathOf });
  const ids = requestIdSource(Math.random);
  app.use('*', async (c, next) => {
    c.set('requestId', requestIdFor(c.req.raw.headers, DEFAULT_REQUEST_ID_HEADERS, c.req.path, ids));
    c.set('startedAt', performance.now());
    await next();
  });
  const validator =
    options.validationUrls === undefined
      ? undefined
      : createApiKeyValidator({
          urls: options.validationUrls,
          timeoutMs: 2000,
          log,
          cache: createVerdictCache({ positiveTtlMs: options.positiveTtlMs ?? 300_000, negativeTtlMs: options.negativeTtlMs ?? 60_000, maxEntries: 1000, now: options.now ?? (() => performance.now()) }),
        });
  const clientAuth = inferenceAuth({ staticKeys: options.staticKeys ?? [], validator, isExempt: (path) => PROBE_PATHS.has(path) || isAdminPath(path), log });
  if (clientAuth !== undefined) app.use('*', clientAuth);
  addAdminRoutes(app, { manager, registry, log, auth: adminAuth({ adminApiKey: options.adminApiKey, log }), apiKey: undefined, endpointTimeoutMs: 2000 });
  app.get('/health', (c) => c.text('ok'));
  app.post('/v1/completions', async (c) => {
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    allowLongRequest(c.env?.server, c.req.raw);
    return router.route({
      route: '/v1/completions',
      upstreamPath: '/v1/completions',
      method: 'POST',
      headers: c.req.raw.headers,
      bytes,
      json: JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>,
      requestId: c.get('requestId'),
      clientSignal: c.req.raw.signal,
      startedAt: performance.now(),
    });
  });

  const server = Bun.serve({ hostname: options.hostname ?? '127.0.0.1', port: 0, fetch: (req, srv) => app.fetch(req, { server: srv }) });
  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port!,
    registry,
    manager,
    probed,
    logs,
    async [Symbol.asyncDispose]() {
      manager[Symbol.dispose]();
      await server.stop(true);
    },
  };
}

/** Requests a count of finished requests from a spawned mock engine. */
export async function finishedOn(engineUrl: string): Promise<number> {
  const stats = (await (await fetch(`${engineUrl}/_mock/stats`)).json()) as { requestSuccess: Record<string, number> };
  return Object.values(stats.requestSuccess).reduce((a, b) => a + b, 0);
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
