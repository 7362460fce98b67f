// Every command-line flag and config-file key of the router, with its type, default, help and status.
import { z } from 'zod';
import { POLICY_NAMES } from './policy-names.ts';
import { DEFAULT_MAX_ANSWER_BYTES } from '../net/body-limits.ts';

/** How a flag takes its values on the command line. */
export type FlagArity =
  | 'switch' // `--flag`, no value
  | 'one' // `--flag VALUE` or `--flag=VALUE`, once
  | 'many' // `--flag A B C`, repeatable, values accumulate (clap `num_args = 0..`)
  | 'append' // `--flag A`, one value per occurrence, repeatable (clap `ArgAction::Append`)
  | 'prefill'; // `--prefill URL [PORT|none]`, repeatable

export interface FlagMeta {
  readonly group: string;
  readonly help: string;
  readonly arity: FlagArity;
  /** Value name shown in --help. */
  readonly value?: string;
  /** Other spellings accepted on the command line (without the leading dashes). */
  readonly aliases?: readonly string[];
  /** Set for a Rust-router flag whose feature this router does not have: why. Setting it is refused at start-up. */
  readonly unsupported?: string;
  /** Environment variable read as a fallback, besides the generic `VLLM_ROUTER_<KEY>`. */
  readonly env?: string;
}

export interface Flag<S extends z.ZodType = z.ZodType> {
  readonly schema: S;
  readonly meta: FlagMeta;
}

const flag = <S extends z.ZodType>(schema: S, meta: FlagMeta): Flag<S> => ({ schema, meta });

// Command-line values arrive as strings, config files give typed values: accept both, strictly.
const toNumber = (v: unknown) => (typeof v === 'string' ? (v.trim() === '' ? Number.NaN : Number(v)) : v);
const toBoolean = (v: unknown) => {
  if (typeof v !== 'string') return v;
  const s = v.trim().toLowerCase();
  return s === 'true' || s === '1' || s === 'yes' ? true : s === 'false' || s === '0' || s === 'no' ? false : v;
};
const toList = (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v);

/** A comma-separated value, or a list from a config file whose items may themselves be comma-separated. */
const toCommaList = (v: unknown) => (typeof v === 'string' || Array.isArray(v) ? [v].flat().flatMap((s) => (typeof s === 'string' ? s.split(',').map((x) => x.trim()) : [s])) : v);
/** `alias:model,…`, or a config file's `{alias: model}` map. */
const toAliasList = (v: unknown) =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.entries(v).map(([k, x]) => `${k}:${String(x)}`) : typeof v === 'string' || Array.isArray(v) ? toCommaList(v) : v;

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .number({ error: 'expected a number' })
    .int('expected an integer')
    .min(min, min === 0 ? 'must not be negative' : `must be at least ${min}`)
    .max(max, `must be at most ${max}`);
const float = (min: number, max = Number.POSITIVE_INFINITY) =>
  z
    .number({ error: 'expected a number' })
    .refine(Number.isFinite, 'expected a finite number')
    .refine((x) => x >= min, `must be at least ${min}`)
    .refine((x) => x <= max, `must be at most ${max}`);

const intFlag = (dflt: number, min: number, meta: Omit<FlagMeta, 'arity'>, max?: number) =>
  flag(z.preprocess(toNumber, int(min, max).default(dflt)), { arity: 'one', value: 'N', ...meta });
const floatFlag = (dflt: number, min: number, meta: Omit<FlagMeta, 'arity'>, max?: number) =>
  flag(z.preprocess(toNumber, float(min, max).default(dflt)), { arity: 'one', value: 'X', ...meta });
const optionalIntFlag = (min: number, meta: Omit<FlagMeta, 'arity'>) =>
  flag(z.preprocess(toNumber, int(min).optional()), { arity: 'one', value: 'N', ...meta });
const switchFlag = (meta: Omit<FlagMeta, 'arity'>) =>
  flag(z.preprocess(toBoolean, z.boolean({ error: 'expected true or false' }).default(false)), { arity: 'switch', ...meta });
const stringFlag = (dflt: string, meta: Omit<FlagMeta, 'arity'>) =>
  flag(z.string().min(1, 'must not be empty').default(dflt), { arity: 'one', value: 'TEXT', ...meta });
const optionalStringFlag = (meta: Omit<FlagMeta, 'arity'>) =>
  flag(z.string().min(1, 'must not be empty').optional(), { arity: 'one', value: 'TEXT', ...meta });
const listFlag = (meta: Omit<FlagMeta, 'arity'>) =>
  flag(z.preprocess(toList, z.array(z.string().min(1, 'must not be empty')).default([])), { arity: 'many', value: 'TEXT...', ...meta });
const enumFlag = <const T extends readonly [string, ...string[]]>(values: T, dflt: T[number], meta: Omit<FlagMeta, 'arity'>) =>
  flag(z.enum(values, { error: `expected one of ${values.join(', ')}` }).default(dflt), { arity: 'one', value: values.join('|'), ...meta });
const optionalEnumFlag = <const T extends readonly [string, ...string[]]>(values: T, meta: Omit<FlagMeta, 'arity'>) =>
  flag(z.enum(values, { error: `expected one of ${values.join(', ')}` }).optional(), { arity: 'one', value: values.join('|'), ...meta });

/** `--model-path` / `--tokenizer-path`: one value per occurrence, never split at commas (a path may hold one);
 * a config file gives a string, a list, or a `{model: path}` map. */
const pathListFlag = (meta: Omit<FlagMeta, 'arity'>) =>
  flag(
    z.preprocess(
      (v) => (typeof v === 'string' ? [v] : v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.entries(v).map(([k, x]) => `${k}=${String(x)}`) : v),
      z.array(z.string().min(1, 'must not be empty')).default([]),
    ),
    { arity: 'append', ...meta },
  );

/** `k=v` selector items, as clap gives them: split at the first `=`, items without one are ignored. */
const selectorFlag = (meta: Omit<FlagMeta, 'arity'>) =>
  flag(
    z.preprocess(
      (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.entries(v).map(([k, x]) => `${k}=${String(x)}`) : toList(v)),
      z.array(z.string()).default([]),
    ),
    { arity: 'many', value: 'KEY=VALUE...', ...meta },
  );

/** A prefill endpoint: URL plus an optional bootstrap port (`none` means no bootstrap server). */
export interface PrefillSpec {
  url: string;
  bootstrapPort: number | null;
}
const bootstrapPort = z.preprocess(
  (v) => (v === undefined || v === null || (typeof v === 'string' && v.toLowerCase() === 'none') ? null : toNumber(v)),
  int(1, 65535).nullable(),
);
const prefillItem = z.preprocess(
  (v) => {
    if (typeof v === 'string') return { url: v, bootstrapPort: null };
    if (Array.isArray(v)) return { url: v[0], bootstrapPort: v[1] };
    if (v !== null && typeof v === 'object' && 'bootstrap_port' in v) {
      const o = v as { url?: unknown; bootstrap_port?: unknown };
      return { url: o.url, bootstrapPort: o.bootstrap_port };
    }
    return v;
  },
  z.object({ url: z.string({ error: 'expected a URL' }), bootstrapPort }),
);

export const FLAGS = {
  // ── Server
  host: stringFlag('127.0.0.1', { group: 'Server', help: 'Address the router listens on', value: 'ADDR' }),
  port: intFlag(30000, 0, { group: 'Server', help: 'Port the router listens on (0: any free port, printed at start-up)', value: 'PORT' }, 65535),
  max_payload_size: intFlag(536870912, 1, { group: 'Server', help: 'Largest request body accepted, in bytes; larger bodies get 413', value: 'BYTES' }),
  max_inflight_body_bytes: optionalIntFlag(1, {
    group: 'Server',
    help: 'Request-body bytes all clients together may have the router hold at once; a body that does not fit gets 503 with Retry-After, unread. At least --max-payload-size (default: 1 GiB, or --max-payload-size when larger)',
    value: 'BYTES',
  }),
  body_read_timeout_secs: intFlag(120, 1, {
    group: 'Server',
    help: 'Longest time a client may take to send its request body; a slower one gets 408, its connection is closed and its share of --max-inflight-body-bytes comes back',
    value: 'SECS',
  }),
  max_buffered_response_size: intFlag(DEFAULT_MAX_ANSWER_BYTES, 1, {
    group: 'Server',
    help: 'Largest engine answer the router reads whole (a PD prefill answer, a decode answer it merges logprobs into); past it the request fails with 502. Answers the router only relays are not limited: past 1 MiB they are streamed',
    value: 'BYTES',
  }),
  request_timeout_secs: intFlag(1800, 1, { group: 'Server', help: 'Total time allowed for one upstream request, streams included', value: 'SECS' }),
  max_concurrent_requests: intFlag(32768, 1, { group: 'Server', help: 'Capacity of the admission token bucket' }),
  queue_size: intFlag(100, 0, { group: 'Server', help: 'Requests that may wait for admission when the bucket is empty (0: refuse at once)' }),
  queue_timeout_secs: intFlag(60, 1, { group: 'Server', help: 'Longest wait in the admission queue before 408', value: 'SECS' }),
  rate_limit_tokens_per_second: optionalIntFlag(1, { group: 'Server', help: 'Admission bucket refill rate (default: --max-concurrent-requests per second)' }),
  cors_allowed_origins: listFlag({ group: 'Server', help: 'Allowed CORS origins; empty allows any origin', value: 'ORIGIN...' }),
  forward_paths: listFlag({ group: 'Server', help: "Extra paths the catch-all forwards to the engines besides vLLM's inference and information routes: exact, or a prefix ending in * (/v1/files/*); vLLM's admin routes always need the admin key", value: 'PATH...' }),
  shutdown_delay_secs: intFlag(5, 0, { group: 'Server', help: 'On SIGTERM/SIGINT, /readiness answers 503 at once but new requests are still served this long, so load balancers can notice; then new requests get 503', value: 'SECS' }),
  shutdown_grace_period_secs: intFlag(180, 0, { group: 'Server', help: 'After --shutdown-delay-secs, how long in-flight requests and streams may take to finish', value: 'SECS' }),
  stream_stall_timeout_secs: intFlag(300, 0, { group: 'Server', help: 'Cut a stream that sends nothing for this long (0: never), with an SSE error event', value: 'SECS' }),
  config: optionalStringFlag({ group: 'Server', help: 'JSON or YAML file with any of these settings under their snake_case names; command-line values win. Re-read on SIGHUP', value: 'FILE' }),
  watch_config: switchFlag({ group: 'Server', help: 'Also re-read --config whenever the file changes' }),

  // ── Endpoints ("workers" in the Rust router's vocabulary)
  worker_urls: listFlag({ group: 'Workers', help: 'Base URLs of the vLLM endpoints (http://, https://, or grpc://HOST:PORT for a gRPC engine)', value: 'URL...' }),
  static_models: flag(z.preprocess(toCommaList, z.array(z.string().min(1, 'must not be empty')).default([])), {
    group: 'Workers',
    help: 'The model each --worker-urls entry serves, in the same order, comma-separated (one per URL); an endpoint then gets only requests for its model. Without it each endpoint serves what its /v1/models lists (LoRA adapters included), and any model until that is read',
    arity: 'one',
    value: 'MODEL,...',
  }),
  static_aliases: flag(z.preprocess(toAliasList, z.array(z.string()).default([])), {
    group: 'Workers',
    help: "Model names clients may use for served ones, alias:model comma-separated (production-stack's format); the body's model is rewritten before it is forwarded",
    arity: 'one',
    value: 'ALIAS:MODEL,...',
  }),
  grpc_protocol: enumFlag(['auto', 'vllm-engine', 'vllm-inference'], 'auto', { group: 'Workers', help: 'Protocol of grpc:// endpoints: found at the first probe, or vllm.grpc.engine.VllmEngine (vllm serve --grpc) or vllm.Inference (vLLM\'s Rust front end)' }),
  reasoning_parser: optionalEnumFlag(['deepseek_r1', 'qwen3'], { group: 'Workers', help: "gRPC endpoints: split <think>…</think> from the output into the message's reasoning field (vLLM's current name for reasoning_content), as vLLM's --reasoning-parser" }),
  tool_call_parser: optionalEnumFlag(['llama3_json', 'hermes', 'mistral'], { group: 'Workers', help: 'gRPC endpoints: how the model writes tool calls (default: found in the chat template), as vLLM\'s --tool-call-parser' }),
  worker_startup_timeout_secs: intFlag(600, 1, { group: 'Workers', help: 'Longest wait at start-up for a first healthy endpoint', value: 'SECS' }),
  worker_startup_check_interval: intFlag(30, 1, { group: 'Workers', help: 'Poll interval of the start-up health wait', value: 'SECS' }),
  intra_node_data_parallel_size: intFlag(1, 1, { group: 'Workers', help: 'Data-parallel ranks per endpoint URL (URL@0…URL@N-1), routed with X-data-parallel-rank; probed once per URL' }),
  backend: enumFlag(['vllm', 'trtllm', 'openai', 'anthropic'], 'vllm', { group: 'Workers', help: 'Kind of upstream: vllm endpoints, or one OpenAI-compatible API', aliases: ['runtime'] }),
  enable_igw: switchFlag({ group: 'Workers', help: 'Inference-gateway multi-router mode', unsupported: 'the inference-gateway multi-router mode (several routers behind one, per model) is not built' }),
  history_backend: enumFlag(['memory', 'none'], 'memory', { group: 'Workers', help: 'Response-storage backend of the Responses API', unsupported: 'the router stores no responses: vLLM keeps Responses API state itself, and GET /v1/responses/{id} asks every engine' }),
  profile: switchFlag({ group: 'Workers', help: 'PD mode: call /start_profile and /stop_profile around each stage', unsupported: 'profiling around each PD stage is not built; with the admin key, POST /start_profile and /stop_profile through the router to profile the engines while requests run' }),

  // ── Policy
  policy: enumFlag(POLICY_NAMES, 'cache_aware', { group: 'Policy', help: 'Routing policy' }),
  prefill_policy: optionalEnumFlag(POLICY_NAMES, { group: 'Policy', help: 'PD prefill-stage policy (default: --policy)' }),
  decode_policy: optionalEnumFlag(POLICY_NAMES, { group: 'Policy', help: 'PD decode-stage policy (default: --policy)' }),
  session_header: optionalStringFlag({ group: 'Policy', help: 'Header naming a request\'s session, read before the built-in session headers (x-session-id…); when absent, the body\'s top-level field of that name. consistent_hash, rendezvous_hash and sticky_least_loaded key on it (production-stack\'s --session-key)', value: 'HEADER' }),
  session_ttl_secs: intFlag(3600, 1, { group: 'Sticky sessions', help: 'sticky_least_loaded: a session with no request for this long is forgotten; its next request is placed again', value: 'SECS' }),
  max_sessions: intFlag(100000, 1, { group: 'Sticky sessions', help: 'sticky_least_loaded: the most sessions remembered; past it the least recently used one is forgotten' }),
  cache_threshold: floatFlag(0.3, 0, { group: 'Cache-aware', help: 'Prefix match ratio above which a request goes to the best-matching endpoint' }, 1),
  balance_abs_threshold: intFlag(64, 0, { group: 'Cache-aware', help: 'Load is imbalanced when max − min in-flight exceeds this…' }),
  balance_rel_threshold: floatFlag(1.5, 1, { group: 'Cache-aware', help: '…and max exceeds min × this' }),
  eviction_interval: intFlag(120, 1, { group: 'Cache-aware', help: 'Seconds between evictions of the prefix index', value: 'SECS', aliases: ['eviction-interval-secs'] }),
  max_tree_size: intFlag(67108864, 1, { group: 'Cache-aware', help: 'Prefix-index budget per endpoint (characters, or tokens with a tokenizer)' }),
  block_size: intFlag(16, 1, { group: 'Cache-aware', help: 'Tokens per prefix-hash block (match vLLM --block-size)' }),
  tokenizer_path: pathListFlag({ group: 'Cache-aware', help: 'tokenizer.json, or a directory holding it and tokenizer_config.json; wins over --model-path for the same model. Repeat as MODEL=PATH when the fleet serves several models (a bare PATH serves every model not named)', value: '[MODEL=]PATH' }),
  model_path: pathListFlag({ group: 'Cache-aware', help: 'Local model directory (or a Hub id in the local Hugging Face cache) holding the tokenizer files and generation_config.json; repeat as MODEL=DIR for several models', value: '[MODEL=]DIR' }),
  tokenizer_pool_size: optionalIntFlag(1, { group: 'Cache-aware', help: 'Tokenizer threads (default: cores − 1, at least 1); each holds its own copy of the tokenizer' }),

  // ── QoE (qoe_centric, disaggregated_qoe, stream QoE and SLA metrics)
  target_ttft_ms: intFlag(300, 1, { group: 'QoE', help: 'Time-to-first-token target; a request may set its own with the SLA header', value: 'MS' }),
  target_itl_ms: intFlag(50, 1, { group: 'QoE', help: 'Inter-token latency (time per output token) target; a request may set its own with the TPOT header', value: 'MS' }),
  optimal_throughput: floatFlag(30, 0.001, { group: 'QoE', help: 'Decode speed that is good enough (tokens/s per stream); also the reading pace stream QoE expects' }),
  priority_header: stringFlag('x-request-priority', { group: 'QoE', help: 'Header with the request priority, 1 (high) to 3 (low), default 2; orders the admission queue', value: 'HEADER' }),
  sla_target_header: stringFlag('x-sla-target-ms', { group: 'QoE', help: 'Header with the request\'s own TTFT target in ms (else --target-ttft-ms)', value: 'HEADER' }),
  sla_tpot_header: stringFlag('x-sla-tpot-ms', { group: 'QoE', help: 'Header with the request\'s own time-per-output-token target in ms (else --target-itl-ms)', value: 'HEADER' }),
  expected_output_tokens_header: stringFlag('x-expected-output-tokens', { group: 'QoE', help: 'No effect: the QoE policies no longer trust a client\'s output-length guess (issue #18); accepted so existing command lines start', value: 'HEADER' }),
  expected_tps_header: stringFlag('x-expected-tokens-per-second', { group: 'QoE', help: 'Header with the pace (tokens/s) the client reads at, for stream QoE', value: 'HEADER' }),
  worker_tags: listFlag({ group: 'QoE', help: 'Tags of configured endpoints, URL=tag1,tag2 (e.g. http://p:8000=prefill); disaggregated_qoe reads prefill/decode tags', value: 'URL=TAGS...' }),
  request_stats_window_secs: intFlag(10, 1, { group: 'QoE', help: 'Window over which each endpoint\'s requests per second are counted (production-stack\'s --request-stats-window)', value: 'SECS' }),
  engine_metrics_interval_secs: intFlag(5, 0, { group: 'QoE', help: 'How often each endpoint\'s vLLM /metrics is read when a QoE policy is in use (0: never)', value: 'SECS' }),
  engine_metrics_timeout_secs: intFlag(3, 1, { group: 'QoE', help: 'Timeout of one /metrics read', value: 'SECS' }),
  qoe_probe_interval_secs: intFlag(5, 1, { group: 'QoE', help: 'An endpoint that got no request from a QoE policy for this long takes the next one, so its measured speed stays current', value: 'SECS' }),
  qoe_weight_min: floatFlag(0.05, 0, { group: 'QoE', help: 'No effect: the QoE policies decide on predicted latency, not a weighted cost (issue #18); accepted so existing command lines start' }, 0.25),
  qoe_weight_max: floatFlag(0.6, 0.25, { group: 'QoE', help: 'No effect (see --qoe-weight-min)' }, 1),
  qoe_adapt_interval_secs: intFlag(5, 1, { group: 'QoE', help: 'No effect (see --qoe-weight-min)', value: 'SECS' }),

  // ── KV events (kv_aware): the Rust router's docs/kv_aware.md names, so configurations carry over
  kv_events_endpoint: listFlag({ group: 'KV events', help: 'The KV-event PUB socket of the engine at URL (vLLM --kv-events-config endpoint); repeatable; data-parallel rank r publishes on PORT + r', value: 'URL=tcp://HOST:PORT...' }),
  kv_events_port: optionalIntFlag(1, { group: 'KV events', help: 'For engines without an explicit --kv-events-endpoint: their host and this port (rank r: PORT + r)', value: 'PORT' }),
  kv_events_replay_endpoint: listFlag({ group: 'KV events', help: 'The replay socket of the engine at URL (vLLM replay_endpoint), asked for missed events; repeatable', value: 'URL=tcp://HOST:PORT...' }),
  kv_events_replay_port: optionalIntFlag(1, { group: 'KV events', help: 'For engines without an explicit --kv-events-replay-endpoint: their host and this port (rank r: PORT + r)', value: 'PORT' }),
  kv_events_topic_filter: optionalStringFlag({ group: 'KV events', help: 'Topic prefix to subscribe to (vLLM topic); default all', value: 'TOPIC' }),
  kv_block_size: optionalIntFlag(1, { group: 'KV events', help: 'Tokens per KV block in the events (default: --block-size); events of another size are skipped', value: 'N' }),
  kv_index_max_entries: intFlag(262144, 1, { group: 'KV events', help: 'The most KV blocks remembered per endpoint; the oldest stored go first' }),
  kv_model: optionalStringFlag({ group: 'KV events', help: 'Accepted for the Rust router\'s flag; the tokenizer comes from --tokenizer-path/--kv-tokenizer-path', value: 'NAME' }),
  kv_tokenizer_path: optionalStringFlag({ group: 'KV events', help: 'Same as --tokenizer-path', value: 'PATH' }),
  kv_hash_algo: optionalStringFlag({ group: 'KV events', help: 'Accepted for the Rust router\'s flag; matching uses the router\'s own hash of the events\' token ids, whatever vLLM hashes with', value: 'ALGO' }),
  kv_hash_seed: optionalStringFlag({ group: 'KV events', help: 'Accepted for the Rust router\'s flag; not needed (see --kv-hash-algo)', value: 'SEED' }),

  // ── Prefill/decode disaggregation
  vllm_pd_disaggregation: switchFlag({ group: 'PD', help: 'vLLM two-stage prefill → decode routing' }),
  pd_disaggregation: switchFlag({ group: 'PD', help: 'Older SGLang-style parallel prefill + decode routing' }),
  prefill: flag(z.array(prefillItem).default([]), { group: 'PD', help: 'Prefill endpoint and optional bootstrap port; repeat for more', arity: 'prefill', value: 'URL [PORT|none]' }),
  decode: flag(z.preprocess(toList, z.array(z.string()).default([])), { group: 'PD', help: 'Decode endpoint; repeat for more', arity: 'append', value: 'URL' }),
  vllm_discovery_address: optionalStringFlag({ group: 'PD', help: 'host:port to bind a ZMQ ROUTER socket for vLLM self-registration', value: 'HOST:PORT' }),
  kv_connector: enumFlag(['nixl', 'mooncake', 'moriio'], 'nixl', { group: 'PD', help: 'KV connector whose kv_transfer_params the router relays' }),

  // ── Kubernetes service discovery
  service_discovery: switchFlag({ group: 'Kubernetes', help: 'Discover endpoints from Kubernetes pods (in-cluster service account, or KUBECONFIG / ~/.kube/config); a pod serves while Running and Ready' }),
  selector: selectorFlag({ group: 'Kubernetes', help: 'Pod label selector (regular mode)' }),
  prefill_selector: selectorFlag({ group: 'Kubernetes', help: 'Pod label selector of prefill pods' }),
  decode_selector: selectorFlag({ group: 'Kubernetes', help: 'Pod label selector of decode pods' }),
  service_discovery_port: intFlag(80, 1, { group: 'Kubernetes', help: 'Port of discovered pods', value: 'PORT' }, 65535),
  service_discovery_scheme: enumFlag(['http', 'grpc'], 'http', { group: 'Kubernetes', help: 'How discovered pods are reached: vLLM\'s HTTP server, or its gRPC engine front (grpc://)' }),
  service_discovery_namespace: optionalStringFlag({ group: 'Kubernetes', help: 'Namespace to watch (default: all namespaces)', value: 'NAME' }),

  // ── Metrics and logs
  prometheus_port: intFlag(29000, 0, { group: 'Metrics', help: 'Port of the Prometheus /metrics listener (0: any free port)', value: 'PORT' }, 65535),
  prometheus_host: stringFlag('127.0.0.1', { group: 'Metrics', help: 'Address of the Prometheus /metrics listener', value: 'ADDR' }),
  production_stack_api: switchFlag({ group: 'Server', help: 'Serve production-stack\'s own routes: GET /engines, GET /version (the router\'s), POST /sleep, POST /wake_up and GET /is_sleeping with ?id=ENGINE_ID (behind the admin key), and its /health (200 while the router serves, whatever its engines\' state, as its Helm chart\'s liveness probe expects); set by production-stack\'s command line' }),
  metrics_on_router_port: switchFlag({ group: 'Metrics', help: 'Serve /metrics on the router\'s own --port (production-stack\'s layout, behind the client keys when they are set) and open no --prometheus-port listener' }),
  log_level: flag(
    z.preprocess(
      (v) => (v === 'warning' ? 'warn' : v === 'critical' ? 'error' : v),
      z.enum(['debug', 'info', 'warn', 'error'], { error: 'expected one of debug, info, warn, error' }).default('info'),
    ),
    { group: 'Logging', help: 'Least severe log level written', arity: 'one', value: 'debug|info|warn|error' },
  ),
  log_dir: optionalStringFlag({ group: 'Logging', help: 'Also write logs to daily files DIR/vllm-router.YYYY-MM-DD (created if missing)', value: 'DIR' }),
  log_json: switchFlag({ group: 'Logging', help: 'Write one JSON object per log line' }),
  request_id_headers: listFlag({ group: 'Logging', help: 'Headers the request id is taken from (default: x-request-id x-correlation-id x-trace-id request-id)', value: 'HEADER...' }),

  // ── Tracing
  enable_trace: switchFlag({ group: 'Tracing', help: 'Export OpenTelemetry spans (server, admission, routing, each upstream leg) over OTLP/HTTP JSON' }),
  otlp_traces_endpoint: optionalStringFlag({ group: 'Tracing', help: 'OTLP/HTTP collector: host:port or an http(s) URL (default http://localhost:4318/v1/traces)', value: 'HOST:PORT|URL', env: 'OTEL_EXPORTER_OTLP_ENDPOINT' }),
  otel_sampling_ratio: floatFlag(1, 0, { group: 'Tracing', help: 'Fraction of new traces sampled; requests with a traceparent follow its sampled flag' }, 1),
  otel_excluded_paths: listFlag({ group: 'Tracing', help: 'Exact paths without spans (default: /health /health_generate /liveness /readiness)', value: 'PATH...' }),

  // ── Retries
  retry_max_retries: intFlag(5, 1, { group: 'Retry', help: 'Total attempts per request (1 = no retry)' }),
  retry_initial_backoff_ms: intFlag(50, 1, { group: 'Retry', help: 'First backoff', value: 'MS' }),
  retry_max_backoff_ms: intFlag(30000, 1, { group: 'Retry', help: 'Backoff cap', value: 'MS' }),
  retry_backoff_multiplier: floatFlag(1.5, 1, { group: 'Retry', help: 'Backoff growth per retry' }),
  retry_jitter_factor: floatFlag(0.2, 0, { group: 'Retry', help: 'Uniform jitter ± this fraction' }, 1),
  disable_retries: switchFlag({ group: 'Retry', help: 'One attempt per request' }),

  // ── Circuit breaker
  cb_failure_threshold: intFlag(10, 1, { group: 'Circuit breaker', help: 'Failures in a row (all within the window) that open the breaker' }),
  cb_half_open_max_probes: intFlag(1, 1, { group: 'Circuit breaker', help: 'Requests let through at once while half-open' }),
  cb_success_threshold: intFlag(3, 1, { group: 'Circuit breaker', help: 'Half-open successes that close it' }),
  cb_timeout_duration_secs: intFlag(60, 1, { group: 'Circuit breaker', help: 'Time open before half-open probes', value: 'SECS' }),
  cb_window_duration_secs: intFlag(120, 1, { group: 'Circuit breaker', help: 'Failures older than this do not count', value: 'SECS' }),
  disable_circuit_breaker: switchFlag({ group: 'Circuit breaker', help: 'Never open breakers' }),

  // ── Health checks
  health_failure_threshold: intFlag(3, 1, { group: 'Health', help: 'Failed probes in a row that mark an endpoint unhealthy' }),
  health_success_threshold: intFlag(2, 1, { group: 'Health', help: 'Good probes in a row that mark it healthy again' }),
  health_check_timeout_secs: intFlag(5, 1, { group: 'Health', help: 'Timeout of one probe', value: 'SECS' }),
  health_check_interval_secs: intFlag(60, 1, { group: 'Health', help: 'Time between probe rounds', value: 'SECS' }),
  health_check_endpoint: flag(z.string().startsWith('/', 'must start with /').default('/health'), { group: 'Health', help: 'Path probed on each endpoint', arity: 'one', value: 'PATH' }),

  // ── Auth
  api_key: optionalStringFlag({ group: 'Auth', help: 'Bearer key sent to endpoints on every request, health checks included', value: 'KEY' }),
  api_key_validation_urls: listFlag({ group: 'Auth', help: 'URLs that validate inbound bearer tokens (GET with the token; any 2xx accepts); verdicts are cached', value: 'URL...', env: 'API_KEY_VALIDATION_URLS' }),
  api_key_validation_timeout_secs: intFlag(5, 1, { group: 'Auth', help: 'Timeout of one validation call', value: 'SECS' }),
  api_key_cache_ttl_secs: intFlag(300, 0, { group: 'Auth', help: 'How long an accepted token is remembered', value: 'SECS' }),
  api_key_negative_cache_ttl_secs: intFlag(60, 0, { group: 'Auth', help: 'How long a refused token is remembered (0: never)', value: 'SECS' }),
  api_key_cache_size: intFlag(10000, 1, { group: 'Auth', help: 'Most token verdicts remembered' }),
  api_key_file: optionalStringFlag({ group: 'Auth', help: 'File of accepted client keys, one per line (# comments)', value: 'FILE' }),
  api_keys: listFlag({ group: 'Auth', help: 'Accepted client keys; prefer --api-key-file or VLLM_ROUTER_API_KEYS (command lines are visible to other users)', value: 'KEY...' }),
  admin_api_key: optionalStringFlag({ group: 'Auth', help: 'Bearer key the admin routes require; without it they answer loopback clients only', value: 'KEY' }),
  worker_drain_timeout_secs: intFlag(600, 0, { group: 'Workers', help: 'Longest wait for a removed endpoint\'s requests (remove_worker?wait=true, reloads); requests are never cut', value: 'SECS' }),
} as const satisfies Record<string, Flag>;

export type FlagKey = keyof typeof FLAGS;

/** `--worker-urls` for `worker_urls`. */
export const cliName = (key: string) => `--${key.replaceAll('_', '-')}`;
