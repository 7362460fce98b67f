// The configuration schema: the flag table as one zod object, plus the rules that span several flags.
import { z } from 'zod';
import { FLAGS, type FlagKey } from './flags.ts';
import { forwardPathProblem } from '../wire/engine-paths.ts';
import { otlpTracesUrl } from '../tracing/otlp-exporter.ts';
import { aliasMap, aliasProblem } from './model-aliases.ts';
import { grpcUrlProblem, isGrpcUrl } from '../grpc/grpc-url.ts';
import { tokenizerPathsProblem } from './tokenizer-paths.ts';

const shape = Object.fromEntries(Object.entries(FLAGS).map(([key, f]) => [key, f.schema])) as {
  [K in FlagKey]: (typeof FLAGS)[K]['schema'];
};

/** A worker URL must be http(s) with a host, as the Rust router validates. */
export function urlProblem(url: string): string | undefined {
  if (!/^https?:\/\//i.test(url)) return 'must start with http:// or https://';
  try {
    if (!new URL(url).hostname) return 'has no host';
  } catch {
    return 'is not a valid URL';
  }
  return undefined;
}

/** A --worker-urls entry: an HTTP(S) base URL, or `grpc://HOST:PORT` of a vLLM gRPC engine. */
export function workerUrlProblem(url: string): string | undefined {
  if (isGrpcUrl(url)) return grpcUrlProblem(url);
  return /^https?:\/\//i.test(url) ? urlProblem(url) : 'must start with http://, https:// or grpc://';
}

/** `URL=tcp://HOST:PORT` of --kv-events-endpoint and --kv-events-replay-endpoint. */
export function kvMappingProblem(item: string): string | undefined {
  const eq = item.indexOf('=tcp://');
  if (eq <= 0) return 'expected URL=tcp://HOST:PORT';
  const url = urlProblem(item.slice(0, eq));
  if (url) return `URL ${url}`;
  return /^[^\s/:]+:\d{1,5}$/.test(item.slice(eq + 7)) ? undefined : 'expected URL=tcp://HOST:PORT';
}

export const configSchema = z.object(shape).superRefine((c, ctx) => {
  const problem = (key: FlagKey, message: string, value?: unknown) =>
    ctx.addIssue({ code: 'custom', path: [key], message, input: value });

  c.worker_urls.forEach((url) => {
    const p = workerUrlProblem(url);
    if (p) problem('worker_urls', p, url);
  });
  // Prefill/decode over gRPC is not built: the hand-off (kv_transfer_params) would have to ride the engine protocol.
  const pdOverGrpc = 'prefill/decode disaggregation over gRPC engines is not supported: give the PD endpoints as http:// URLs';
  c.decode.forEach((url) => {
    const p = isGrpcUrl(url) ? pdOverGrpc : urlProblem(url);
    if (p) problem('decode', p, url);
  });
  c.prefill.forEach(({ url }) => {
    const p = isGrpcUrl(url) ? pdOverGrpc : urlProblem(url);
    if (p) problem('prefill', p, url);
  });

  const pd = c.vllm_pd_disaggregation || c.pd_disaggregation;
  if (c.vllm_pd_disaggregation && c.pd_disaggregation)
    problem('pd_disaggregation', 'cannot be combined with --vllm-pd-disaggregation', true);

  const grpcWorkers = c.worker_urls.filter(isGrpcUrl);
  if (grpcWorkers.length > 0 && pd) problem('worker_urls', pdOverGrpc, grpcWorkers.join(' '));
  if (grpcWorkers.length > 0 && c.backend !== 'vllm') problem('worker_urls', `grpc:// endpoints are vLLM engines: they cannot be used with --backend ${c.backend}`, grpcWorkers.join(' '));
  if (c.service_discovery_scheme === 'grpc' && pd) problem('service_discovery_scheme', pdOverGrpc, 'grpc');
  if (c.backend === 'openai') {
    if (c.worker_urls.length !== 1) problem('worker_urls', '--backend openai needs exactly one URL', c.worker_urls.join(' '));
    if (c.service_discovery) problem('service_discovery', 'cannot be used with --backend openai', true);
  } else if (pd) {
    // Prefill and decode endpoints may also come later (admin API, ZMQ registration): none at start-up is allowed.
    if (c.service_discovery && c.prefill_selector.length === 0 && c.decode_selector.length === 0)
      problem('prefill_selector', 'PD service discovery needs --prefill-selector or --decode-selector');
  } else if (c.service_discovery) {
    if (c.selector.length === 0) problem('selector', 'service discovery needs a non-empty --selector');
  }
  // No endpoint at start-up is allowed: they can arrive later (admin API, ZMQ registration, discovery), and a
  // policy that wants two (power_of_two) makes do with what is there when it picks.

  if (c.static_models.length > 0) {
    if (pd) problem('static_models', 'pairs with --worker-urls, which PD mode does not use', c.static_models.join(','));
    else if (c.static_models.length !== c.worker_urls.length)
      problem('static_models', `expected one model per --worker-urls entry, in order: ${c.worker_urls.length} URLs, ${c.static_models.length} models`, c.static_models.join(','));
  }
  c.static_aliases.forEach((item) => {
    const p = aliasProblem(item);
    if (p) problem('static_aliases', p, item);
  });
  if (c.static_aliases.length > 0 && aliasMap(c.static_aliases).size !== c.static_aliases.length)
    problem('static_aliases', 'names an alias twice', c.static_aliases.join(','));

  if (c.kv_connector === 'moriio' && c.vllm_discovery_address === undefined)
    problem('kv_connector', 'moriio needs --vllm-discovery-address', c.kv_connector);
  if (c.max_inflight_body_bytes !== undefined && c.max_inflight_body_bytes < c.max_payload_size)
    problem('max_inflight_body_bytes', `must be at least --max-payload-size (${c.max_payload_size}), or no body that size could ever be read`, c.max_inflight_body_bytes);
  if (c.retry_max_backoff_ms < c.retry_initial_backoff_ms)
    problem('retry_max_backoff_ms', `must be at least --retry-initial-backoff-ms (${c.retry_initial_backoff_ms})`, c.retry_max_backoff_ms);
  c.worker_tags.forEach((item) => {
    const eq = item.lastIndexOf('=');
    if (eq <= 0 || eq === item.length - 1) problem('worker_tags', 'expected URL=tag1,tag2', item);
    else if (urlProblem(item.slice(0, eq))) problem('worker_tags', `URL ${urlProblem(item.slice(0, eq))}`, item);
  });
  if (c.qoe_weight_min > c.qoe_weight_max) problem('qoe_weight_min', `must not exceed --qoe-weight-max (${c.qoe_weight_max})`, c.qoe_weight_min);
  if (c.enable_trace && c.otlp_traces_endpoint !== undefined) {
    const otlp = otlpTracesUrl(c.otlp_traces_endpoint);
    if (otlp.kind === 'error') problem('otlp_traces_endpoint', otlp.reason, c.otlp_traces_endpoint);
  }
  c.forward_paths.forEach((path) => {
    const p = forwardPathProblem(path);
    if (p) problem('forward_paths', p, path);
  });
  c.otel_excluded_paths.forEach((path) => {
    if (!path.startsWith('/')) problem('otel_excluded_paths', 'must start with /', path);
  });
  for (const key of ['kv_events_endpoint', 'kv_events_replay_endpoint'] as const)
    c[key].forEach((item) => {
      const p = kvMappingProblem(item);
      if (p) problem(key, p, item);
    });
  const kvAware = [c.policy, c.prefill_policy, c.decode_policy].includes('kv_aware');
  // gRPC VllmEngine endpoints stream their events themselves (SubscribeKvEvents): no address is needed for them.
  const grpcFleet = grpcWorkers.length > 0 || c.service_discovery_scheme === 'grpc';
  if (kvAware && c.kv_events_endpoint.length === 0 && c.kv_events_port === undefined && !grpcFleet)
    problem('policy', 'kv_aware needs to know where the engines publish their KV events: --kv-events-port or --kv-events-endpoint (gRPC engines need neither: their events come over SubscribeKvEvents)', 'kv_aware');
  for (const [key, flag] of [['tokenizer_path', '--tokenizer-path'], ['model_path', '--model-path']] as const) {
    const p = tokenizerPathsProblem(flag, c[key]);
    if (p) problem(key, p.problem, p.item);
  }
  if (c.vllm_discovery_address !== undefined && !/^[^\s:]+:\d{1,5}$/.test(c.vllm_discovery_address))
    problem('vllm_discovery_address', 'expected host:port', c.vllm_discovery_address);
});

export type Config = z.infer<typeof configSchema>;
