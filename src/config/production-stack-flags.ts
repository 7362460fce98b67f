// production-stack's router command line (src/vllm_router/parsers/parser.py at a6c01db): each flag's type, default,
// and what it becomes here, or why it is refused. The table --help prints and production-stack.ts parses with.

export interface PsFlag {
  /** `value`: `--flag VALUE` / `--flag=VALUE`; `switch`: argparse store_true. */
  readonly kind: 'value' | 'switch';
  readonly type?: 'int' | 'float';
  readonly choices?: readonly string[];
  /** production-stack's default; a refused flag given with exactly this value is accepted (it asks for nothing). The
   * LMCache flags have none here, so they are refused whatever their value: they ask for LMCache's controller. */
  readonly default?: string | number | boolean;
  /** What the flag becomes in this router (--help). */
  readonly becomes?: string;
  /** Set when the flag has no counterpart here: why, and what to use instead. */
  readonly refused?: string;
}

const value = (f: Omit<PsFlag, 'kind'>): PsFlag => ({ kind: 'value', ...f });
const int = (dflt: number | undefined, f: Omit<PsFlag, 'kind' | 'type' | 'default'>): PsFlag => ({ kind: 'value', type: 'int', default: dflt, ...f });
const toggle = (f: Omit<PsFlag, 'kind' | 'default'>): PsFlag => ({ kind: 'switch', default: false, ...f });

export const ROUTING_LOGICS = ['roundrobin', 'session', 'kvaware', 'prefixaware', 'disaggregated_prefill', 'disaggregated_prefill_orchestrated', 'qoe_centric', 'disaggregated_qoe'] as const;
/** utils.ModelType: the dummy request production-stack's static health check sends per model. */
export const MODEL_TYPES = ['chat', 'completion', 'embeddings', 'rerank', 'score', 'transcription', 'vision', 'messages'] as const;
const LMCACHE = 'kvaware here is kv_aware, which reads the engines\' own KV-cache events instead of hosting an LMCache controller: drop the --lmcache-* flags and give --kv-events-port PORT (vLLM --kv-events-config) or --kv-events-endpoint';

/** By argparse dest name (the --dynamic-config file's keys); the flag is `--` + the name with `-` for `_`. */
export const PS_FLAGS = {
  host: value({ default: '0.0.0.0', becomes: '--host' }),
  port: int(8001, { becomes: '--port' }),
  root_path: value({ default: '', refused: 'the router serves at the root path; put a path-rewriting proxy in front to host it under a prefix' }),
  service_discovery: value({ choices: ['static', 'k8s', 'external-only'], becomes: 'static: --worker-urls from --static-backends; k8s: --service-discovery (pod IPs) with --selector, --service-discovery-namespace, --service-discovery-port' }),
  k8s_service_discovery_type: value({ choices: ['pod-ip', 'service-name'], default: 'pod-ip', becomes: 'pod-ip is how --service-discovery finds engines', refused: 'service-name discovery (one Service per engine) is not built; pods are discovered by their IPs (pod-ip)' }),
  static_backends: value({ becomes: '--worker-urls (comma-separated URLs)' }),
  static_models: value({ becomes: '--static-models (one model per backend)' }),
  static_aliases: value({ becomes: '--static-aliases (alias:model,…)' }),
  static_model_types: value({ becomes: `checked (${MODEL_TYPES.join(', ')}); the health check probes each engine\'s /health, which vLLM answers for every model type` }),
  static_model_labels: value({ becomes: 'one label per backend: an endpoint tag (--worker-tags URL=label), and the PD role with --prefill-model-labels / --decode-model-labels' }),
  static_backend_health_checks: toggle({ becomes: 'engines are always health-checked here (GET --health-check-endpoint)' }),
  static_backend_health_check_interval: int(60, { becomes: '--health-check-interval-secs' }),
  static_backend_health_check_timeout_seconds: int(10, { becomes: '--health-check-timeout-secs' }),
  k8s_port: int(8000, { becomes: '--service-discovery-port' }),
  k8s_namespace: value({ default: 'default', becomes: '--service-discovery-namespace' }),
  k8s_label_selector: value({ default: '', becomes: '--selector (equality terms key=value, comma-separated)' }),
  k8s_watcher_timeout_seconds: int(0, { refused: 'the pod watch reconnects by itself and is never cut short; only 0 (no timeout) is accepted' }),
  backend_health_check_timeout_seconds: int(10, { becomes: '--health-check-timeout-secs (Kubernetes discovery)' }),
  routing_logic: value({ choices: ROUTING_LOGICS, becomes: 'roundrobin → round_robin; session → consistent_hash on --session-key; prefixaware → cache_aware; kvaware → kv_aware; qoe_centric, disaggregated_qoe as named; disaggregated_prefill[_orchestrated] → --vllm-pd-disaggregation, prefill and decode endpoints by model label' }),
  lmcache_controller_port: int(undefined, { refused: LMCACHE }),
  lmcache_controller_reply_port: int(undefined, { refused: LMCACHE }),
  lmcache_controller_heartbeat_port: int(undefined, { refused: LMCACHE }),
  session_key: value({ becomes: '--session-header: the header (else the top-level body field) naming the session' }),
  callbacks: value({ refused: 'Python callbacks cannot be loaded into this router' }),
  request_rewriter: value({ choices: ['noop'], default: 'noop', becomes: 'noop: bodies are never rewritten here' }),
  enable_batch_api: toggle({ refused: 'the Files and Batches API is not built (production-stack\'s batch processor is a stub); send batches to the engines\' own API' }),
  file_storage_class: value({ choices: ['local_file'], default: 'local_file', refused: 'the Files and Batches API is not built' }),
  file_storage_path: value({ default: '/tmp/vllm_files', refused: 'the Files and Batches API is not built' }),
  batch_processor: value({ choices: ['local'], default: 'local', refused: 'the Files and Batches API is not built' }),
  engine_stats_interval: int(30, { becomes: '--engine-metrics-interval-secs' }),
  request_stats_window: int(60, { becomes: '--request-stats-window-secs' }),
  log_stats: toggle({ refused: 'no periodic statistics log: the same figures are on /metrics' }),
  log_stats_interval: int(10, { refused: 'no periodic statistics log: the same figures are on /metrics' }),
  dynamic_config_yaml: value({ becomes: '--config FILE with --watch-config: production-stack keys, re-read when the file changes' }),
  dynamic_config_json: value({ becomes: '--config FILE with --watch-config: production-stack keys, re-read when the file changes' }),
  semantic_cache_model: value({ default: 'all-MiniLM-L6-v2', refused: 'the semantic cache is not built' }),
  semantic_cache_dir: value({ default: 'semantic_cache', refused: 'the semantic cache is not built' }),
  semantic_cache_threshold: value({ type: 'float', default: 0.95, refused: 'the semantic cache is not built' }),
  feature_gates: value({ default: '', refused: 'no feature gates (SemanticCache, PIIDetection) are built' }),
  log_level: value({ choices: ['critical', 'error', 'warning', 'info', 'debug', 'trace'], default: 'info', becomes: '--log-level (critical → error, warning → warn, trace → debug)' }),
  log_format: value({ choices: ['text', 'json'], default: 'text', becomes: 'json → --log-json' }),
  sentry_dsn: value({ refused: 'Sentry reporting is not built; errors are logged and counted on /metrics' }),
  sentry_traces_sample_rate: value({ type: 'float', default: 0.1, refused: 'Sentry reporting is not built' }),
  sentry_profile_session_sample_rate: value({ type: 'float', default: 1.0, refused: 'Sentry reporting is not built' }),
  otel_endpoint: value({ refused: 'spans are exported over OTLP/HTTP, not gRPC: use --enable-trace --otlp-traces-endpoint http://COLLECTOR:4318' }),
  otel_service_name: value({ default: 'vllm-router', refused: 'the service name is vllm-router; use --enable-trace --otlp-traces-endpoint' }),
  otel_secure: toggle({ refused: 'give an https:// URL to --otlp-traces-endpoint instead' }),
  prefill_model_labels: value({ becomes: 'backends with these labels are the prefill endpoints (PD), or tagged prefill (disaggregated_qoe)' }),
  decode_model_labels: value({ becomes: 'backends with these labels are the decode endpoints (PD), or tagged decode (disaggregated_qoe)' }),
  kv_aware_threshold: int(2000, { refused: 'kv_aware weighs the cached tokens it finds against load itself; it has no unmatched-token threshold' }),
  prefix_min_match_length: int(0, { refused: 'cache_aware takes a match ratio: use --cache-threshold (0–1)' }),
  max_instance_failover_reroute_attempts: int(0, { becomes: '--retry-max-retries N+1 (this router retries on other endpoints by default)' }),
  lmcache_health_check_interval: int(undefined, { refused: LMCACHE }),
  lmcache_worker_timeout: int(undefined, { refused: LMCACHE }),
  external_providers_config: value({ refused: 'external providers are not built; run one router per provider with --backend openai' }),
} as const satisfies Record<string, PsFlag>;

export type PsKey = keyof typeof PS_FLAGS;

export const psFlagName = (key: string) => `--${key.replaceAll('_', '-')}`;
