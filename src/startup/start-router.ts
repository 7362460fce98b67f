// Starts a router: runs the start-up steps in order, and closes what they built if one fails.
import { routingBlockSize } from './block-size.ts';
import type { Config } from '../config/schema.ts';
import type { ShutdownPhase } from '../http/shutdown-gate.ts';
import type { Logger } from '../log/logger.ts';
import { createMetrics } from '../metrics/metrics.ts';
import { buildAdmission } from './admission.ts';
import { loadApiKeys } from './api-keys.ts';
import { startDiscovery } from './discovery.ts';
import { buildEndpointManager } from './endpoint-manager.ts';
import { buildEndpointRegistry } from './endpoint-registry.ts';
import { tokenizerFromEngine } from './engine-tokenizer.ts';
import { buildGrpcFront } from './grpc.ts';
import { buildHealth, waitForHealthy } from './health.ts';
import { buildModels } from './models.ts';
import { metricsPage, openMetricsListener, openRouterListener } from './listeners.ts';
import { openLogging } from './logging.ts';
import { pdModeOf } from './pd-mode.ts';
import { buildPolicies } from './policies.ts';
import { predictionMetrics } from './prediction-metrics.ts';
import { resolveQoe } from './qoe.ts';
import { startRegistration } from './registration.ts';
import { reconfigurer } from './reload.ts';
import { buildRouter, startMooncakeBootstrap } from './routers.ts';
import { RunningRouter, disposeParts, type PartsSoFar, type RouterParts } from './running-router.ts';
import { trackEndpointStats, startEngineMetrics } from './signals.ts';
import { startKvEventFeeds } from './kv-events.ts';
import { blockHashesFrom, startTokenizer } from './tokenizer.ts';
import { startTracingFor } from './tracing.ts';

export { ConfigProblem } from './config-problem.ts';
export type { ReloadOutcome } from './reload.ts';
export { RunningRouter };

export interface StartOptions {
  readonly log?: Logger;
  readonly random?: () => number;
  readonly now?: () => number;
  /** Reported as service.version on exported spans. */
  readonly version?: string;
  /** Environment for Kubernetes credentials (KUBECONFIG, KUBERNETES_SERVICE_HOST…); default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export async function startRouter(config: Config, options: StartOptions = {}): Promise<RunningRouter> {
  let router: RunningRouter | undefined;
  const built: PartsSoFar = {};
  let parts: RouterParts;
  try {
    parts = await buildParts(config, options, built, () => router?.phase ?? 'serving');
  } catch (e) {
    await disposeParts(built);
    throw e;
  }
  router = new RunningRouter(parts);
  if (!(await waitForHealthy(config, parts))) {
    await router[Symbol.asyncDispose]();
    throw new Error(`no endpoint became healthy within --worker-startup-timeout-secs ${config.worker_startup_timeout_secs}`);
  }
  parts.health.start();
  if (parts.registry.all().length === 0) parts.log.warn(EMPTY_START_WARNING);
  else if (pdModeOf(config) !== undefined)
    for (const role of ['prefill', 'decode'] as const)
      if (parts.registry.all(role).length === 0) parts.log.warn(`no ${role} endpoints yet: PD requests get 503 until one is healthy; add one with POST /workers {"url": …, "worker_type": "${role}"}, --${role}, or self-registration (--vllm-discovery-address)`);
  parts.log.info('vllm-router listening', { url: router.url, metrics: router.metricsUrl, policy: config.policy, endpoints: parts.registry.all().length });
  return router;
}

const EMPTY_START_WARNING =
  'no endpoints yet: inference requests get 503 no_available_endpoints and /readiness answers 503 until one is healthy. Add one with the admin API (POST /add_worker?url=http://HOST:PORT, or POST /workers with {"url": …}), or start with --worker-urls, --service-discovery or --vllm-discovery-address';

/** Each step takes the configuration and the parts before it; whatever owns a resource goes in `built` at once. */
async function buildParts(given: Config, options: StartOptions, built: PartsSoFar, shutdownPhase: () => ShutdownPhase): Promise<RouterParts> {
  const qoe = resolveQoe(given);
  const now = options.now ?? (() => performance.now());
  const random = options.random ?? Math.random;
  const pdMode = pdModeOf(given);
  const { log, logFile } = openLogging(given, options.log);
  built.log = log;
  built.logFile = logFile;
  const config = await tokenizerFromEngine(given, log);
  const metrics = createMetrics();
  const { registry, addEndpoint } = buildEndpointRegistry(config, { pdMode, metrics, log, now });
  const runtimePool = (built.pool = await startTokenizer(config, { metrics, log }));
  // What tokenizes at start-up (cache_aware's blocks, /router/tokenize); tokenizers added at run time serve the gRPC front.
  const pool = runtimePool.hasTokenizers ? runtimePool : undefined;
  const stats = trackEndpointStats(registry, config.request_stats_window_secs * 1000);
  const grpc = (built.grpc = buildGrpcFront(config, { registry, metrics, log, pool: runtimePool }));
  const engineMetrics = (built.engineMetrics = startEngineMetrics(config, { registry, now, log, loadOf: grpc.loadOf }));
  const kvEvents = (built.kvEvents = startKvEventFeeds(config, { registry, metrics, log, engines: grpc.engines }));
  const policies = (built.policies = buildPolicies(config, { registry, pdMode, pool, random, now, stats, engineMetrics, kvEvents, predictions: predictionMetrics(metrics) }));
  const models = buildModels(config, { registry, metrics, log, now, grpcModels: grpc.models });
  const health = (built.health = buildHealth(config, { registry, metrics, log, models, grpcProbe: grpc.probe }));
  const endpoints = (built.endpoints = buildEndpointManager(config, { registry, health, pdMode, log, now, models }));
  const discovery = (built.discovery = await startDiscovery(config, { endpoints, pdMode, metrics, log, env: options.env ?? process.env }));
  const reconfigure = reconfigurer(config, { log, policies, endpoints });
  const admission = (built.admission = buildAdmission(config, now));
  const registration = (built.registration = startRegistration(config, { pdMode, addEndpoint, registry, metrics, log }));
  const mooncake = (built.mooncake = startMooncakeBootstrap(config, pdMode));
  const tracing = (built.tracing = startTracingFor(config, { random, log, version: options.version }));
  const tracer = tracing?.tracer;
  const blockHashes = blockHashesFrom(runtimePool, { metrics, log, blockSize: routingBlockSize(config), adapters: kvEvents });
  const router = buildRouter(config, { pdMode, policies, mooncake, registration, registry, metrics, stats, log, now, random, qoe, tracer, blockHashes, models, grpc });
  const { staticKeys, keyValidator } = loadApiKeys(config, { log, now });
  const page = metricsPage({ metrics, admission, pool: runtimePool, policies, kvEvents, tracing });
  const server = (built.server = openRouterListener({
    config,
    registry,
    router,
    pdMode: pdMode !== undefined,
    metrics,
    log,
    now,
    random,
    admission,
    pool,
    kvEvents,
    grpc,
    tracer,
    qoe,
    endpoints,
    models,
    staticKeys,
    keyValidator,
    shutdownPhase,
    sessions: policies,
    version: options.version,
    metricsPage: config.metrics_on_router_port ? page : undefined,
  }));
  const metricsServer = (built.metricsServer = openMetricsListener(config, page));
  return { config, log, logFile, metrics, registry, stats, pool: runtimePool, grpc, engineMetrics, kvEvents, policies, health, endpoints, discovery, admission, registration, mooncake, tracing, server, metricsServer, reconfigure };
}
