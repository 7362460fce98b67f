// A running router: the HTTP listener, the metrics listener and the background work, owned together.
import { createApp } from '../app.ts';
import type { Config } from '../config/schema.ts';
import { Admission } from '../core/admission.ts';
import { createCircuitBreaker } from '../core/circuit-breaker.ts';
import { baseUrl, endpointId, rankSpecs } from '../core/endpoint.ts';
import { HealthChecker } from '../core/health.ts';
import { createRegistry, type EndpointRegistry } from '../core/registry.ts';
import { retryPolicy } from '../core/retry.ts';
import type { EndpointSpec } from '../core/endpoint.ts';
import { createMooncakeBootstrap, type MooncakeBootstrap } from '../routing/pd/mooncake-bootstrap.ts';
import { RegistrationListener } from '../routing/pd/registration.ts';
import { openAiHealthy } from '../routing/openai-backend.ts';
import { createRouter, type RoutingMode } from '../routing/router-factory.ts';
import { boundedLabel } from '../metrics/bounded-label.ts';
import { createEndpointStats, type EndpointStats } from '../signals/endpoint-stats.ts';
import { DailyLogFile } from '../log/daily-file.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { stdoutLines } from '../log/stdout-lines.ts';
import { createMetrics, type Metrics } from '../metrics/metrics.ts';
import { createPolicy } from '../policies/index.ts';
import { jobFromBody } from '../pool/protocol.ts';
import { TokenizerPool, defaultPoolSize } from '../pool/pool.ts';
import { resolveTokenizerFiles } from '../pool/tokenizer-files.ts';
import type { CacheAwareStats, Policy } from '../policies/types.ts';
import { swappablePolicy } from '../policies/swappable.ts';
import { createEndpointManager, type EndpointManager } from '../core/endpoint-manager.ts';
import { planReload } from './reload-plan.ts';
import { tagsByUrl } from './worker-tags.ts';
import { experienceFactory } from '../signals/experience.ts';
import { createEngineMetrics, type EngineMetrics } from '../signals/engine-metrics.ts';
import { resolveQoeOptions, type QoeOptions, type QoeOptionsInput } from '../policies/qoe/options.ts';
import { startKubernetesDiscovery, type KubernetesDiscovery } from '../discovery/kubernetes.ts';
import { resolveKubeCredentials } from '../discovery/kube-credentials.ts';
import { readFileSync } from 'node:fs';
import { parseKeyList } from '../http/auth.ts';
import { createApiKeyValidator } from '../http/api-key-validator.ts';
import { createVerdictCache } from '../http/api-key-cache.ts';
import { startTracing, type Tracing } from '../tracing/setup.ts';
import type { ShutdownPhase } from '../http/shutdown-gate.ts';

export interface StartOptions {
  readonly log?: Logger;
  readonly random?: () => number;
  readonly now?: () => number;
  /** Reported as service.version on exported spans. */
  readonly version?: string;
  /** Environment for Kubernetes credentials (KUBECONFIG, KUBERNETES_SERVICE_HOST…); default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Everything a running router owns; built by startRouter, disposed together. */
export interface RouterParts {
  readonly config: Config;
  readonly registry: EndpointRegistry;
  readonly metrics: Metrics;
  readonly policy: Policy;
  readonly log: Logger;
  readonly stats: EndpointStats;
  readonly server: Bun.Server<unknown>;
  readonly metricsServer: Bun.Server<unknown>;
  readonly health: HealthChecker;
  readonly admission: Admission;
  readonly logFile: DailyLogFile | undefined;
  readonly pool: TokenizerPool | undefined;
  /** PD stage policies, disposed with the main one (cache_aware runs an eviction timer). */
  readonly stagePolicies: readonly Policy[];
  readonly registration: RegistrationListener | undefined;
  readonly mooncake: MooncakeBootstrap | undefined;
  readonly tracing: Tracing | undefined;
  readonly endpoints: EndpointManager;
  readonly discovery: KubernetesDiscovery | undefined;
  readonly engineMetrics: EngineMetrics | undefined;
  /** Applies a new configuration (SIGHUP); see RunningRouter.reconfigure. */
  readonly reconfigure: (next: Config) => Promise<ReloadOutcome>;
}

/** What a reload did, for the log line and the tests. */
export interface ReloadOutcome {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Endpoints the new configuration lists that could not be added (failed probe…), with the reason. */
  readonly failed: readonly { readonly url: string; readonly reason: string }[];
  readonly policiesRebuilt: boolean;
  readonly needsRestart: readonly string[];
}

/** A start-up problem in the configuration (a missing tokenizer file…): main exits 2, as for flag errors. */
export class ConfigProblem extends Error {}

export interface DrainTimes {
  /** --shutdown-delay-secs: new requests are still served this long. */
  readonly delayMs: number;
  /** --shutdown-grace-period-secs: then in-flight requests and streams get this long to finish. */
  readonly graceMs: number;
}

export class RunningRouter implements AsyncDisposable {
  #phase: ShutdownPhase = 'serving';
  #config: Config;
  readonly registry: EndpointRegistry;
  readonly metrics: Metrics;
  readonly policy: Policy;
  readonly log: Logger;
  readonly stats: EndpointStats;

  constructor(private readonly parts: RouterParts) {
    ({ config: this.#config, registry: this.registry, metrics: this.metrics, policy: this.policy, log: this.log, stats: this.stats } = parts);
  }

  /** The configuration in force (the latest one a reload accepted). */
  get config(): Config {
    return this.#config;
  }

  /**
   * Applies a new configuration without dropping a connection: endpoints the configuration lists are added
   * (probed first) or removed (drained), policies are rebuilt when their settings changed, the log level
   * follows; anything else waits for a restart and is named in the outcome.
   */
  async reconfigure(next: Config): Promise<ReloadOutcome> {
    const outcome = await this.parts.reconfigure(next);
    this.#config = next;
    return outcome;
  }

  get url(): string {
    return `http://${this.parts.server.hostname}:${this.parts.server.port}`;
  }
  get metricsUrl(): string {
    return `http://${this.parts.metricsServer.hostname}:${this.parts.metricsServer.port}/metrics`;
  }
  /** Port of the ZMQ self-registration socket, when --vllm-discovery-address is set. */
  get registrationPort(): number | undefined {
    return this.parts.registration?.port;
  }
  get phase(): ShutdownPhase {
    return this.#phase;
  }

  /**
   * The shutdown Kubernetes and load balancers expect: readiness fails at once while new requests are still
   * served for `delayMs`; then new requests are refused (503, Retry-After) while the ones in flight get
   * `graceMs` to finish; whatever is still open then is cut. The listener stays open until the end, so a
   * client is answered rather than refused a connection. Resolves true when everything finished in time.
   */
  async drain(times: DrainTimes): Promise<boolean> {
    this.#phase = 'draining';
    await this.parts.discovery?.[Symbol.asyncDispose]();
    await Bun.sleep(times.delayMs);
    this.#phase = 'closing';
    this.log.info('draining: new requests are refused; waiting for the ones in flight', { in_flight: this.parts.server.pendingRequests });
    const finished = await idle(this.parts.server, times.graceMs);
    await this.parts.server.stop(!finished);
    this.close();
    await this.flushTraces();
    return finished;
  }

  private close(): void {
    void this.parts.pool?.close();
    void this.parts.registration?.close();
    this.parts.mooncake?.[Symbol.dispose]();
    this.parts.admission[Symbol.dispose]();
    this.parts.endpoints[Symbol.dispose]();
    this.parts.engineMetrics?.[Symbol.dispose]();
    this.parts.health[Symbol.dispose]();
    this.policy.dispose?.();
    for (const p of this.parts.stagePolicies) p.dispose?.();
    void this.parts.metricsServer.stop(true);
    this.log.flush();
    this.parts.logFile?.[Symbol.dispose]();
  }

  /** The last spans go out after the listeners are closed (bounded by the exporter's shutdown timeout). */
  private async flushTraces(): Promise<void> {
    await this.parts.tracing?.exporter[Symbol.asyncDispose]();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#phase = 'closing';
    await this.parts.discovery?.[Symbol.asyncDispose]();
    await this.parts.server.stop(true);
    this.close();
    await this.flushTraces();
  }
}

/** How often a drain looks at the requests still open (Bun counts them, streamed bodies included, but has no event). */
const DRAIN_POLL_MS = 50;

/** Resolves true once the server has no request open (refusals answer at once), false after `graceMs`. */
async function idle(server: Bun.Server<unknown>, graceMs: number): Promise<boolean> {
  const deadline = performance.now() + graceMs;
  while (server.pendingRequests > 0) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    await Bun.sleep(Math.min(DRAIN_POLL_MS, left));
  }
  return true;
}

export async function startRouter(config: Config, options: StartOptions = {}): Promise<RunningRouter> {
  const logFile = config.log_dir === undefined ? undefined : new DailyLogFile(config.log_dir);
  const stdout = stdoutLines();
  const log =
    options.log ??
    createLogger({
      level: config.log_level,
      json: config.log_json,
      write: logFile === undefined ? stdout.write : (line) => (stdout.write(line), logFile.write(line)),
      flush: () => (stdout.flush(), logFile?.flush()),
    });
  const random = options.random ?? Math.random;
  const now = options.now ?? (() => performance.now());
  const metrics = createMetrics();
  const breakerOptions = {
    failureThreshold: config.cb_failure_threshold,
    successThreshold: config.cb_success_threshold,
    timeoutMs: config.cb_timeout_duration_secs * 1000,
    windowMs: config.cb_window_duration_secs * 1000,
    halfOpenMaxProbes: config.cb_half_open_max_probes,
  };
  const STATE_CODE = { closed: 0, open: 1, half_open: 2 } as const;
  const registry = createRegistry({
    breaker: config.disable_circuit_breaker
      ? undefined
      : (spec) => {
          const worker = endpointId(spec);
          return createCircuitBreaker(breakerOptions, {
            now,
            onTransition: (from, to) => {
              metrics.cbTransitions.inc({ worker, from, to });
              metrics.cbState.set({ worker }, STATE_CODE[to]);
              log[to === 'open' ? 'warn' : 'info']('circuit breaker', { endpoint: worker, from, to });
            },
          });
        },
  });
  const pdMode = config.vllm_pd_disaggregation ? 'vllm' : config.pd_disaggregation ? 'sglang' : undefined;
  const dpSize = config.intra_node_data_parallel_size;
  // With data-parallel ranks each URL is N endpoints (`URL@0`…), each routed with X-data-parallel-rank.
  const tags = tagsByUrl(config);
  const add = (given: EndpointSpec) => {
    const spec = { ...given, tags: tags.get(baseUrl(given.url)) ?? given.tags };
    for (const s of rankSpecs(spec, dpSize)) {
      const added = registry.add(s);
      if ('error' in added) log.warn('duplicate endpoint ignored', { endpoint: endpointId(s) });
    }
  };
  if (pdMode === undefined) for (const url of config.worker_urls) add({ url });
  else {
    // Static endpoints and self-registered ones both live in the registry (the Rust router ignored the static ones).
    for (const { url, bootstrapPort } of config.prefill) add({ url, role: 'prefill', bootstrapPort });
    for (const url of config.decode) add({ url, role: 'decode' });
  }
  metrics.activeWorkers.set(registry.all().length);
  registry.onChange(() => metrics.activeWorkers.set(registry.all().length));

  // With a tokenizer, cache_aware matches on the token blocks vLLM will prefill, hashed in the pool.
  const tokenizer = resolveTokenizerFiles({ tokenizerPath: config.tokenizer_path, modelPath: config.model_path });
  if (!tokenizer.ok) throw new ConfigProblem(tokenizer.error);
  let pool: TokenizerPool | undefined;
  if (tokenizer.value !== undefined) {
    try {
      pool = await TokenizerPool.start({
        files: tokenizer.value,
        blockSize: config.block_size,
        threads: config.tokenizer_pool_size ?? defaultPoolSize(),
        onThreadExit: (e) => {
          metrics.poolRestarts.inc();
          log.warn('tokenizer thread died and was replaced', { thread: e.thread, code: e.code, error: e.error, retried: e.retried });
        },
      });
    } catch (e) {
      throw new ConfigProblem((e as Error).message);
    }
    for (const w of pool.info?.warnings ?? []) log.warn('tokenizer', { message: w });
    log.info('tokenizer pool ready', { threads: pool.size, load_ms: Math.round(pool.info?.loadMs ?? 0) });
  }
  const stats = createEndpointStats();
  const qoeInUse = (c: Config) => [c.policy, c.prefill_policy, c.decode_policy].some((p) => p === 'qoe_centric' || p === 'disaggregated_qoe');
  // vLLM's own gauges and histograms, read only when a QoE policy uses them.
  const engineMetrics =
    qoeInUse(config) && config.engine_metrics_interval_secs > 0
      ? createEngineMetrics({ endpoints: () => registry.all(), intervalMs: config.engine_metrics_interval_secs * 1000, timeoutMs: config.engine_metrics_timeout_secs * 1000, apiKey: config.api_key, now, log })
      : undefined;
  engineMetrics?.start();
  let qoe: QoeOptions;
  try {
    qoe = resolveQoeOptions(qoeInput(config));
  } catch (e) {
    throw new ConfigProblem((e as Error).message);
  }
  const policyDeps = (c: Config) => ({
    random,
    now: () => Date.now(),
    options: {
      cacheThreshold: c.cache_threshold,
      balanceAbsThreshold: c.balance_abs_threshold,
      balanceRelThreshold: c.balance_rel_threshold,
      evictionIntervalSecs: c.eviction_interval,
      maxTreeSize: c.max_tree_size,
      qoe: qoeInput(c),
    },
    // EndpointStats rolls its windows on the router's monotonic clock, so policies read it on the same one.
    signals: { endpointStats: stats, engineMetrics, statsClock: now },
    tokenizer: pool === undefined ? undefined : { blockSize: c.block_size },
  });
  // One way to build a policy for every use (regular and each PD stage), so a tokenizer serves them all.
  const makePolicy = (name: typeof config.policy, c: Config): Policy => createPolicy(name, policyDeps(c));
  // Routers hold slots, so a configuration reload can put new policies in place under live traffic.
  const policy = swappablePolicy(makePolicy(config.policy, config));
  policy.onMembershipChange?.(registry.all('regular'));
  // Each PD stage has its own policy instance (--prefill-policy / --decode-policy, else --policy).
  const prefillPolicy = pdMode === undefined ? undefined : swappablePolicy(makePolicy(config.prefill_policy ?? config.policy, config));
  const decodePolicy = pdMode === undefined ? undefined : swappablePolicy(makePolicy(config.decode_policy ?? config.policy, config));
  const policyOf = (role: string) => (role === 'prefill' ? prefillPolicy : role === 'decode' ? decodePolicy : policy);
  for (const role of ['prefill', 'decode'] as const) policyOf(role)?.onMembershipChange?.(registry.all(role));
  registry.onChange((role) => policyOf(role)?.onMembershipChange?.(registry.all(role)));

  const health = new HealthChecker(
    registry,
    {
      intervalSecs: config.health_check_interval_secs,
      timeoutSecs: config.health_check_timeout_secs,
      failureThreshold: config.health_failure_threshold,
      successThreshold: config.health_success_threshold,
      // An OpenAI-compatible API has no /health: it is up when /v1/models answers, even 401 without a key.
      path: config.backend === 'openai' && config.health_check_endpoint === '/health' ? '/v1/models' : config.health_check_endpoint,
      apiKey: config.api_key,
      healthyStatus: config.backend === 'openai' ? openAiHealthy : undefined,
    },
    metrics,
    log,
  );

  const endpoints = createEndpointManager({
    registry,
    probe: (url) => health.probe(url),
    log,
    drainTimeoutMs: config.worker_drain_timeout_secs * 1000,
    now,
    roles: pdMode === undefined ? ['regular'] : ['prefill', 'decode'],
    dpSize,
  });

  let discovery: KubernetesDiscovery | undefined;
  if (config.service_discovery) {
    const creds = await resolveKubeCredentials({ env: options.env ?? process.env });
    if (!creds.ok) throw new ConfigProblem(`--service-discovery: ${creds.error}`);
    discovery = startKubernetesDiscovery({
      credentials: creds.credentials,
      sink: { add: (spec) => endpoints.add(spec), remove: (id) => endpoints.remove(id) },
      pd: pdMode !== undefined,
      selector: config.selector,
      prefillSelector: config.prefill_selector,
      decodeSelector: config.decode_selector,
      port: config.service_discovery_port,
      namespace: config.service_discovery_namespace,
      log,
      onEvent: (e) => {
        if (e.type === 'added' || e.type === 'removed') metrics.discoveryUpdates.inc({ source: 'kubernetes', change: e.type });
      },
    });
  }

  let current = config;
  const reconfigure = async (next: Config): Promise<ReloadOutcome> => {
    const plan = planReload(current, next);
    if (plan.logLevel !== undefined) log.setLevel(plan.logLevel);
    if (plan.policiesChanged) {
      policy.replace(makePolicy(next.policy, next), registry.all('regular'));
      prefillPolicy?.replace(makePolicy(next.prefill_policy ?? next.policy, next), registry.all('prefill'));
      decodePolicy?.replace(makePolicy(next.decode_policy ?? next.policy, next), registry.all('decode'));
    }
    const removed: string[] = [];
    for (const e of plan.remove) {
      const r = endpoints.remove(e.url);
      if (r.ok) removed.push(...r.endpoints.map((x) => x.id));
    }
    const added: string[] = [];
    const failed: { url: string; reason: string }[] = [];
    await Promise.all(
      plan.add.map(async (e) => {
        const r = await endpoints.add({ url: e.url, role: e.role, bootstrapPort: e.bootstrapPort });
        if (r.ok) added.push(...r.endpoints.map((x) => x.id));
        else if (r.status !== 409) failed.push({ url: e.url, reason: r.message });
      }),
    );
    current = next;
    return { added, removed, failed, policiesRebuilt: plan.policiesChanged, needsRestart: plan.needsRestart };
  };

  const admission = new Admission(
    {
      capacity: config.max_concurrent_requests,
      refillPerSecond: config.rate_limit_tokens_per_second,
      queueSize: config.queue_size,
      queueTimeoutMs: config.queue_timeout_secs * 1000,
    },
    { now },
  );
  const retry = retryPolicy({
    maxAttempts: config.disable_retries ? 1 : config.retry_max_retries,
    initialBackoffMs: config.retry_initial_backoff_ms,
    maxBackoffMs: config.retry_max_backoff_ms,
    multiplier: config.retry_backoff_multiplier,
    jitter: config.retry_jitter_factor,
  });
  let known = new Set(registry.all().map((e) => e.id));
  registry.onChange(() => {
    const now = new Set(registry.all().map((e) => e.id));
    for (const id of known) if (!now.has(id)) stats.forget(id);
    known = now;
  });

  let router: RunningRouter | undefined;
  const blockHashes =
    pool === undefined
      ? undefined
      : async (route: string, body: Readonly<Record<string, unknown>>) => {
          const job = jobFromBody(route, body);
          if (job === undefined) return undefined;
          const result = await pool.tokenize(job);
          if (!result.ok) {
            metrics.tokenizeErrors.inc();
            log.warn('tokenization failed; routing without block hashes', { route, error: result.error });
            return undefined;
          }
          metrics.tokenizeDuration.observe(result.value.encodeMs / 1000);
          return result.value.blockHashes;
        };
  let registration: RegistrationListener | undefined;
  if (pdMode !== undefined && config.vllm_discovery_address !== undefined) {
    registration = RegistrationListener.start({
      address: config.vllm_discovery_address,
      onAdded: (i) => {
        add({ url: i.url, role: i.role, kvAddress: i.zmqAddress });
        metrics.discoveryUpdates.inc({ source: 'zmq', change: 'added' });
        log.info('endpoint registered', { endpoint: i.url, role: i.role, zmq: i.zmqAddress });
      },
      onRemoved: (i, cause) => {
        registry.remove(i.url);
        metrics.discoveryUpdates.inc({ source: 'zmq', change: 'removed' });
        log.info('endpoint registration ended', { endpoint: i.url, role: i.role, cause });
      },
      onRejected: (r) => log.warn('registration rejected', { reason: r.reason, detail: r.detail }),
    });
    log.info('listening for vLLM self-registration', { address: registration.endpoint });
  }
  const mooncake = pdMode === 'vllm' && config.kv_connector === 'mooncake' ? createMooncakeBootstrap() : undefined;
  const tracing = config.enable_trace
    ? startTracing({
        endpoint: config.otlp_traces_endpoint,
        samplingRatio: config.otel_sampling_ratio,
        excludedPaths: config.otel_excluded_paths,
        serviceVersion: options.version,
        random,
        onError: (message) => log.warn('trace export failed', { message }),
      })
    : undefined;
  if (tracing !== undefined) {
    if (tracing.warning !== undefined) log.warn('tracing', { message: tracing.warning });
    log.info('exporting traces', { url: tracing.url, sampling_ratio: config.otel_sampling_ratio });
  }
  const tracer = tracing?.tracer;
  const mode: RoutingMode =
    pdMode === undefined
      ? { kind: 'regular', policy }
      : pdMode === 'sglang'
        ? { kind: 'sglang_pd', prefillPolicy: prefillPolicy!, decodePolicy: decodePolicy! }
        : {
            kind: 'vllm_pd',
            prefillPolicy: prefillPolicy!,
            decodePolicy: decodePolicy!,
            connector: config.kv_connector,
            mooncake,
            moriio: { transferMode: () => registration?.transferMode, dpSize: config.intra_node_data_parallel_size },
          };
  const routingRouter = createRouter(mode, {
    registry,
    metrics,
    stats,
    log,
    now,
    random,
    retry,
    requestTimeoutMs: config.request_timeout_secs * 1000,
    stallTimeoutMs: config.stream_stall_timeout_secs * 1000,
    maxAnswerBytes: config.max_buffered_response_size,
    apiKey: config.api_key,
    modelLabel: boundedLabel(64),
    blockHashes,
    tracer,
    experience: experienceFactory(metrics, qoe),
  });
  let staticKeys = config.api_keys;
  if (config.api_key_file !== undefined) {
    try {
      staticKeys = [...staticKeys, ...parseKeyList(readFileSync(config.api_key_file, 'utf8'))];
    } catch (e) {
      throw new ConfigProblem(`--api-key-file ${config.api_key_file}: ${(e as Error).message}`);
    }
  }
  const keyValidator =
    config.api_key_validation_urls.length === 0
      ? undefined
      : createApiKeyValidator({
          urls: config.api_key_validation_urls,
          timeoutMs: config.api_key_validation_timeout_secs * 1000,
          log,
          cache: createVerdictCache({ positiveTtlMs: config.api_key_cache_ttl_secs * 1000, negativeTtlMs: config.api_key_negative_cache_ttl_secs * 1000, maxEntries: config.api_key_cache_size, now }),
        });
  const app = createApp({ config, registry, router: routingRouter, pdMode: pdMode !== undefined, metrics, log, now, random, admission, pool, tracer, qoe, endpoints, staticKeys, keyValidator, shutdownPhase: () => router?.phase ?? 'serving' });
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
    fetch: async (req) => {
      if (new URL(req.url).pathname !== '/metrics') return new Response('Not Found', { status: 404 });
      const a = admission.stats();
      metrics.queueDepth.set(a.queued);
      metrics.admissionInUse.set(a.inUse);
      if (pool !== undefined) metrics.poolQueueDepth.set(pool.stats().queueDepth);
      const cache = policy.cacheStats();
      if (cache !== undefined) copyCacheAwareStats(cache, metrics);
      if (tracing !== undefined) for (const [result, n] of Object.entries(tracing.exporter.stats())) metrics.traceSpans.set({ result }, n);
      return new Response(await metrics.registry.metrics(), { headers: { 'content-type': metrics.registry.contentType } });
    },
  });
  router = new RunningRouter({ config, registry, metrics, policy, log, stats, server, metricsServer, health, admission, logFile, pool, stagePolicies: [prefillPolicy, decodePolicy].filter((p) => p !== undefined), registration, mooncake, tracing, endpoints, discovery, engineMetrics, reconfigure });

  await waitForHealthy(router, health, config, log);
  health.start();
  log.info('vllm-router listening', { url: router.url, metrics: router.metricsUrl, policy: config.policy, endpoints: registry.all().length });
  return router;
}

/** The policy keeps cumulative counts; Prometheus counters take them at scrape time. */
function copyCacheAwareStats(s: CacheAwareStats, metrics: Metrics): void {
  const set = (counter: Metrics['cacheHits'], value: number) => {
    counter.reset();
    counter.inc(value);
  };
  set(metrics.cacheHits, s.hits);
  set(metrics.cacheMisses, s.misses);
  set(metrics.loadBalancingEvents, s.loadBalancingFallbacks);
  set(metrics.sharedPrefixFallbacks, s.sharedPrefixFallbacks);
  metrics.maxLoad.set(s.lastMaxLoad);
  metrics.minLoad.set(s.lastMinLoad);
  metrics.treeSize.reset();
  for (const [worker, size] of s.indexSize) metrics.treeSize.set({ worker }, size);
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

/** The QoE settings the flags give (the rest keep the defaults of policies/qoe/options.ts). */
function qoeInput(c: Config): QoeOptionsInput {
  return {
    targetTtftMs: c.target_ttft_ms,
    targetItlMs: c.target_itl_ms,
    optimalThroughput: c.optimal_throughput,
    headers: { priority: c.priority_header, slaTarget: c.sla_target_header, expectedOutputTokens: c.expected_output_tokens_header, expectedTokensPerSecond: c.expected_tps_header },
    adapt: { min: c.qoe_weight_min, max: c.qoe_weight_max, intervalMs: c.qoe_adapt_interval_secs * 1000 },
  };
}
