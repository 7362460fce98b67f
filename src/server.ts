// A running router: the HTTP listener, the metrics listener and the background work, owned together.
import { createApp } from './app.ts';
import type { Config } from './config/schema.ts';
import { HealthChecker } from './core/health.ts';
import { createRegistry, type EndpointRegistry } from './core/registry.ts';
import { createLogger, type Logger } from './log/logger.ts';
import { createMetrics, type Metrics } from './metrics/metrics.ts';
import { createPolicy } from './policies/index.ts';
import type { Policy } from './policies/types.ts';

export interface StartOptions {
  readonly log?: Logger;
  readonly random?: () => number;
  readonly now?: () => number;
}

export class RunningRouter implements AsyncDisposable {
  #draining = false;

  constructor(
    readonly config: Config,
    readonly registry: EndpointRegistry,
    readonly metrics: Metrics,
    readonly policy: Policy,
    readonly log: Logger,
    private readonly server: Bun.Server<unknown>,
    private readonly metricsServer: Bun.Server<unknown>,
    private readonly health: HealthChecker,
  ) {}

  get url(): string {
    return `http://${this.server.hostname}:${this.server.port}`;
  }
  get metricsUrl(): string {
    return `http://${this.metricsServer.hostname}:${this.metricsServer.port}/metrics`;
  }
  get draining(): boolean {
    return this.#draining;
  }

  /** Stop taking new connections and wait for in-flight requests and streams to finish. */
  async drain(): Promise<void> {
    this.#draining = true;
    await this.server.stop(false);
    this.close();
  }

  private close(): void {
    this.health[Symbol.dispose]();
    this.policy.dispose?.();
    void this.metricsServer.stop(true);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#draining = true;
    await this.server.stop(true);
    this.close();
  }
}

export async function startRouter(config: Config, options: StartOptions = {}): Promise<RunningRouter> {
  const log = options.log ?? createLogger({ level: config.log_level, json: config.log_json });
  const random = options.random ?? Math.random;
  const now = options.now ?? (() => performance.now());
  const metrics = createMetrics();
  const registry = createRegistry();
  for (const url of config.worker_urls) {
    const added = registry.add({ url });
    if ('error' in added) log.warn('duplicate endpoint ignored', { endpoint: url });
  }
  metrics.activeWorkers.set(registry.all().length);
  registry.onChange(() => metrics.activeWorkers.set(registry.all().length));

  const policy = createPolicy(config.policy, {
    random,
    now: () => Date.now(),
    options: {
      cacheThreshold: config.cache_threshold,
      balanceAbsThreshold: config.balance_abs_threshold,
      balanceRelThreshold: config.balance_rel_threshold,
      evictionIntervalSecs: config.eviction_interval,
      maxTreeSize: config.max_tree_size,
    },
  });
  if (policy === undefined) throw new Error(`policy ${config.policy} is not available in this build`);
  policy.onMembershipChange?.(registry.all('regular'));
  registry.onChange(() => policy.onMembershipChange?.(registry.all('regular')));

  const health = new HealthChecker(
    registry,
    {
      intervalSecs: config.health_check_interval_secs,
      timeoutSecs: config.health_check_timeout_secs,
      failureThreshold: config.health_failure_threshold,
      successThreshold: config.health_success_threshold,
      path: config.health_check_endpoint,
      apiKey: config.api_key,
    },
    metrics,
    log,
  );

  let router: RunningRouter | undefined;
  const app = createApp({ config, registry, policy, metrics, log, now, random, isDraining: () => router?.draining ?? false });
  const server = Bun.serve({
    hostname: config.host,
    port: config.port,
    // The router enforces --max-payload-size itself (with an OpenAI error body); Bun's own cap only backstops it.
    maxRequestBodySize: config.max_payload_size + 1024 * 1024,
    fetch: (req, srv) => app.fetch(req, { server: srv }),
  });
  const metricsServer = Bun.serve({
    hostname: config.prometheus_host,
    port: config.prometheus_port,
    fetch: async (req) =>
      new URL(req.url).pathname === '/metrics'
        ? new Response(await metrics.registry.metrics(), { headers: { 'content-type': metrics.registry.contentType } })
        : new Response('Not Found', { status: 404 }),
  });
  router = new RunningRouter(config, registry, metrics, policy, log, server, metricsServer, health);

  await waitForHealthy(router, health, config, log);
  health.start();
  log.info('vllm-router listening', { url: router.url, metrics: router.metricsUrl, policy: config.policy, endpoints: registry.all().length });
  return router;
}

/** Start-up: probe every endpoint now, then keep polling until one is healthy or the start-up timeout passes. */
async function waitForHealthy(router: RunningRouter, health: HealthChecker, config: Config, log: Logger): Promise<void> {
  const endpoints = router.registry.all();
  if (endpoints.length === 0) return;
  const deadline = performance.now() + config.worker_startup_timeout_secs * 1000;
  let pause = 250;
  for (;;) {
    await health.initial(router.registry.all());
    if (router.registry.all().some((e) => e.healthy)) return;
    if (performance.now() >= deadline) {
      await router[Symbol.asyncDispose]();
      throw new Error(`no endpoint became healthy within --worker-startup-timeout-secs ${config.worker_startup_timeout_secs}`);
    }
    log.info('waiting for a healthy endpoint', { endpoints: endpoints.map((e) => e.id).join(' ') });
    await Bun.sleep(Math.min(pause, config.worker_startup_check_interval * 1000, Math.max(0, deadline - performance.now())));
    pause = Math.min(pause * 2, 5000);
  }
}
