// vLLM's Prometheus /metrics, read the one way the router reads it: fetched on the probe client (net/probe.ts:
// open streams cannot starve it, redirects are not followed, the page is capped), and parsed by name, the
// current names first and the pre-0.11 ones after them (vllm/v1/metrics/loggers.py), for one data-parallel
// rank or all. The scraper (engine-metrics.ts) and /get_loads (engine-load.ts) both read it through here.
import { ENGINE_DOCUMENT_MAX_BYTES } from '../net/body-limits.ts';
import { isSuccess, probe } from '../net/probe.ts';
import { histogramOf, meanOf, parsePromText, sumOf, type Exposition, type HistogramData, type LabelFilter } from './prom-text.ts';

export interface MetricsFetchOptions {
  readonly timeoutMs: number;
  /** Sent as the bearer token (--api-key); vLLM leaves /metrics open, a proxy in front may not. */
  readonly apiKey: string | undefined;
  readonly signal?: AbortSignal;
}

/** Why a page could not be had; each reader words it its own way. */
export type MetricsFailure =
  | { readonly kind: 'timeout' }
  | { readonly kind: 'too_large' | 'unreachable'; readonly message: string }
  | { readonly kind: 'status'; readonly status: number };

export type MetricsPage = { readonly ok: true; readonly page: Exposition } | { readonly ok: false; readonly failure: MetricsFailure };

/** GET <url>/metrics once; data-parallel ranks of one engine then read their own series from the same page. */
export async function fetchVllmMetrics(url: string, options: MetricsFetchOptions): Promise<MetricsPage> {
  const answer = await probe({
    url: `${url}/metrics`,
    headers: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
    timeoutMs: options.timeoutMs,
    maxBodyBytes: ENGINE_DOCUMENT_MAX_BYTES,
    signal: options.signal,
  });
  if (answer.kind === 'failure') {
    if (answer.failure === 'timeout') return { ok: false, failure: { kind: 'timeout' } };
    return { ok: false, failure: { kind: answer.failure === 'too_large' ? 'too_large' : 'unreachable', message: answer.message } };
  }
  if (!isSuccess(answer.status)) return { ok: false, failure: { kind: 'status', status: answer.status } };
  return { ok: true, page: parsePromText(answer.body.toString('utf8')) };
}

/**
 * The samples of one data-parallel rank. vLLM labels each engine's series `engine="<rank>"`; engines older
 * than that label serve one rank per server, so all of the page is that rank.
 */
export function rankFilter(exposition: Exposition, dpRank: number | string | undefined): LabelFilter | undefined {
  const rank = dpRank === undefined ? undefined : String(dpRank);
  const labelled = rank !== undefined && VLLM_METRICS.running.some((n) => exposition.samples(n).some((s) => s.labels['engine'] !== undefined));
  return labelled ? (labels) => labels['engine'] === rank : undefined;
}

/** Sample names, newest first; the first one present wins. Counters are read with and without `_total`. */
export const VLLM_METRICS = {
  running: ['vllm:num_requests_running'],
  waiting: ['vllm:num_requests_waiting'],
  kvUsage: ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'],
  hits: ['vllm:prefix_cache_hits_total', 'vllm:prefix_cache_hits', 'vllm:gpu_prefix_cache_hits_total', 'vllm:gpu_prefix_cache_hits'],
  queries: ['vllm:prefix_cache_queries_total', 'vllm:prefix_cache_queries', 'vllm:gpu_prefix_cache_queries_total', 'vllm:gpu_prefix_cache_queries'],
  ttft: ['vllm:time_to_first_token_seconds'],
  itl: ['vllm:inter_token_latency_seconds', 'vllm:time_per_output_token_seconds'],
  e2e: ['vllm:e2e_request_latency_seconds'],
} as const;
const LEGACY_KV = 'vllm:gpu_cache_usage_perc';

/** One scrape's cumulative values for one endpoint. */
export interface Reading {
  engines: number;
  legacy: boolean;
  running: number | undefined;
  waiting: number | undefined;
  kvUsage: number | undefined;
  hits: number | undefined;
  queries: number | undefined;
  ttft: HistogramData | undefined;
  itl: HistogramData | undefined;
  e2e: HistogramData | undefined;
}

const first = <T>(names: readonly string[], read: (name: string) => T | undefined): { name: string; value: T } | undefined => {
  for (const name of names) {
    const value = read(name);
    if (value !== undefined) return { name, value };
  }
  return undefined;
};

/** The cumulative values of one endpoint; undefined when the text holds no vLLM engine metric at all. */
export function readEngine(exposition: Exposition, dpRank: number | undefined): Reading | undefined {
  const filter = rankFilter(exposition, dpRank);
  const kv = first(VLLM_METRICS.kvUsage, (n) => meanOf(exposition, n, filter));
  const reading: Reading = {
    engines: 0,
    legacy: kv?.name === LEGACY_KV,
    running: first(VLLM_METRICS.running, (n) => sumOf(exposition, n, filter))?.value,
    waiting: first(VLLM_METRICS.waiting, (n) => sumOf(exposition, n, filter))?.value,
    kvUsage: kv?.value,
    hits: first(VLLM_METRICS.hits, (n) => sumOf(exposition, n, filter))?.value,
    queries: first(VLLM_METRICS.queries, (n) => sumOf(exposition, n, filter))?.value,
    ttft: first(VLLM_METRICS.ttft, (n) => histogramOf(exposition, n, filter))?.value,
    itl: first(VLLM_METRICS.itl, (n) => histogramOf(exposition, n, filter))?.value,
    e2e: first(VLLM_METRICS.e2e, (n) => histogramOf(exposition, n, filter))?.value,
  };
  if (reading.running === undefined && reading.waiting === undefined && reading.kvUsage === undefined) return undefined;
  const engines = new Set<string>();
  for (const s of exposition.samples(VLLM_METRICS.running[0])) if (filter === undefined || filter(s.labels)) engines.add(s.labels['engine'] ?? '');
  reading.engines = Math.max(1, engines.size);
  return reading;
}
