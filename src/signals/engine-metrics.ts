// Scrapes every endpoint's vLLM `/metrics` on an interval and keeps, per endpoint, its load (running,
// waiting, KV-cache usage) and what the latest interval between two scrapes observed (prefix-cache hit
// rate, TTFT, ITL and e2e latency), from the deltas of counters and histograms.
//
// Both the current and the pre-0.11 metric names are read (vllm/v1/metrics/loggers.py; the old names before vLLM 0.11), summed over the `engine`
// (data-parallel rank) and `model_name` labels. A failed scrape keeps the last values but marks the
// snapshot stale: a dead engine must never look like an idle one (production-stack dropped it from the
// map, and its policies then read zeros).
import type { Logger } from '../log/logger.ts';
import { ENGINE_DOCUMENT_MAX_BYTES } from '../net/body-limits.ts';
import { isSuccess, probe } from '../net/probe.ts';
import { redirectNote } from '../net/redirect.ts';
import { histogramOf, meanOf, parsePromText, sumOf, type Exposition, type HistogramData, type LabelFilter } from './prom-text.ts';

/** What one interval's histogram observations say. */
export interface LatencyWindow {
  readonly meanMs: number;
  /** Estimated from the bucket deltas by linear interpolation, as PromQL's histogram_quantile does. */
  readonly p50Ms: number | undefined;
  readonly p90Ms: number | undefined;
  /** Observations in the interval. */
  readonly count: number;
  /** Time since the scrape that closed the interval; it grows while the engine observes nothing new. */
  readonly ageMs: number;
}

export interface EngineSnapshot {
  /** `now()` of the last successful scrape; undefined when none has succeeded yet. */
  readonly scrapedAt: number | undefined;
  /** The values are not current: the last scrape failed, none succeeded, or the last success is too old. */
  readonly stale: boolean;
  /** Why the last scrape failed; undefined when it succeeded. */
  readonly lastError: string | undefined;
  /** Distinct `engine` label values read (data-parallel engines behind one API server). */
  readonly engines: number;
  /** The engine speaks the pre-0.11 names (`gpu_cache_usage_perc`, `gpu_prefix_cache_*`, `time_per_output_token_seconds`). */
  readonly legacyNames: boolean;
  readonly running: number | undefined;
  readonly waiting: number | undefined;
  /** 0..1, the mean over engines (each engine has its own KV cache, so usages do not add up). */
  readonly kvCacheUsage: number | undefined;
  /** Δhits / Δqueries over the latest interval between two scrapes that saw queries. */
  readonly prefixCacheHitRate: number | undefined;
  /**
   * Latencies of the latest interval between two scrapes that saw any (undefined until one did). An
   * interval without requests keeps the previous window, only older: readers sampling at their own pace
   * (a policy, per request) must not miss a window that came and went between two of their reads.
   */
  readonly ttft: LatencyWindow | undefined;
  readonly itl: LatencyWindow | undefined;
  readonly e2e: LatencyWindow | undefined;
}

/** The read side, which is all a policy needs. */
export interface EngineMetricsReader {
  get(id: string): EngineSnapshot | undefined;
}

export interface EngineMetrics extends EngineMetricsReader, Disposable {
  /** Scrapes now and then every `intervalMs` (the next round starts `intervalMs` after the previous one began). */
  start(): void;
  /** One round over every endpoint; concurrent calls share the round in progress. */
  scrapeOnce(): Promise<void>;
  /** Every endpoint scraped at least once, by id. */
  snapshots(): ReadonlyMap<string, EngineSnapshot>;
  dispose(): void;
}

/** What the scraper needs of an endpoint; `Endpoint` fits. */
export interface ScrapeTarget {
  readonly id: string;
  readonly url: string;
  /** When set, only the `engine` label equal to it is read (the router addresses that rank alone). */
  readonly dpRank?: number | undefined;
}

export interface EngineMetricsOptions {
  readonly endpoints: () => readonly ScrapeTarget[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Sent as a bearer token, for deployments that guard `/metrics`. */
  readonly apiKey?: string | undefined;
  /** Milliseconds; stamps scrapes and decides staleness. */
  readonly now: () => number;
  /** A success older than this is stale even without a failure (a round that never ends). Default 3 intervals + timeout. */
  readonly staleAfterMs?: number;
  readonly log?: Logger;
}

/** Sample names, newest first; the first one present wins. Counters are read with and without `_total`. */
const NAMES = {
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
interface Reading {
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

/** A latency window as kept: stamped with the scrape that closed it; its age is computed on read. */
type StoredWindow = Omit<LatencyWindow, 'ageMs'> & { readonly at: number };

interface Derived {
  prefixCacheHitRate: number | undefined;
  ttft: StoredWindow | undefined;
  itl: StoredWindow | undefined;
  e2e: StoredWindow | undefined;
}

interface State {
  reading: Reading | undefined;
  derived: Derived;
  scrapedAt: number | undefined;
  lastError: string | undefined;
}

const NO_WINDOW = { prefixCacheHitRate: undefined, ttft: undefined, itl: undefined, e2e: undefined } as const;

export function createEngineMetrics(options: EngineMetricsOptions): EngineMetrics {
  if (!(options.intervalMs > 0) || !(options.timeoutMs > 0)) throw new RangeError('engine metrics: intervalMs and timeoutMs must be positive');
  const staleAfterMs = options.staleAfterMs ?? 3 * options.intervalMs + options.timeoutMs;
  const states = new Map<string, State>();
  const stop = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let round: Promise<void> | undefined;
  let started = false;

  // On node:http (net/probe.ts): streams holding every fetch slot must not make a live engine look stale.
  const fetchText = async (url: string): Promise<{ text: string } | { error: string }> => {
    const answer = await probe({
      url: `${url}/metrics`,
      headers: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
      timeoutMs: options.timeoutMs,
      maxBodyBytes: ENGINE_DOCUMENT_MAX_BYTES,
      signal: stop.signal,
    });
    if (answer.kind === 'failure') return { error: answer.failure === 'timeout' ? `timed out after ${options.timeoutMs} ms` : answer.message };
    if (!isSuccess(answer.status)) return { error: `HTTP ${answer.status}${redirectNote(answer.status)}` };
    return { text: answer.body.toString('utf8') };
  };

  const record = (target: ScrapeTarget, result: { exposition: Exposition } | { error: string }) => {
    let state = states.get(target.id);
    if (state === undefined) {
      state = { reading: undefined, derived: { ...NO_WINDOW }, scrapedAt: undefined, lastError: undefined };
      states.set(target.id, state);
    }
    const reading = 'error' in result ? undefined : readEngine(result.exposition, target.dpRank);
    const missing = target.dpRank === undefined ? 'no vLLM metrics in the /metrics reply' : `no vLLM metrics for engine ${target.dpRank} in the /metrics reply`;
    const error = 'error' in result ? result.error : reading === undefined ? missing : undefined;
    if (error !== undefined || reading === undefined) {
      if (state.lastError === undefined) options.log?.warn('engine metrics scrape failed', { endpoint: target.id, error });
      state.lastError = error;
      return;
    }
    if (state.lastError !== undefined) options.log?.info('engine metrics scrape recovered', { endpoint: target.id });
    const at = options.now();
    if (state.reading !== undefined) state.derived = window(state.derived, state.reading, reading, at);
    state.reading = reading;
    state.scrapedAt = at;
    state.lastError = undefined;
  };

  const runRound = async () => {
    const targets = options.endpoints();
    const live = new Set(targets.map((t) => t.id));
    for (const id of states.keys()) if (!live.has(id)) states.delete(id);
    // Data-parallel ranks of one server share a URL: fetch it once and read each rank from the same text.
    const byUrl = new Map<string, ScrapeTarget[]>();
    for (const t of targets) byUrl.set(t.url, [...(byUrl.get(t.url) ?? []), t]);
    await Promise.all(
      [...byUrl].map(async ([url, group]) => {
        const fetched = await fetchText(url);
        if (stop.signal.aborted) return;
        const result = 'error' in fetched ? fetched : { exposition: parsePromText(fetched.text) };
        for (const t of group) if (live.has(t.id)) record(t, result);
      }),
    );
  };

  const scrapeOnce = (): Promise<void> => {
    round ??= runRound().finally(() => {
      round = undefined;
    });
    return round;
  };

  const schedule = (delayMs: number) => {
    timer = setTimeout(() => {
      const began = options.now();
      void scrapeOnce().then(() => {
        if (!stop.signal.aborted) schedule(Math.max(0, options.intervalMs - (options.now() - began)));
      });
    }, delayMs);
    // The scraper must never keep a process alive on its own.
    timer.unref();
  };

  const snapshot = (state: State): EngineSnapshot => {
    const r = state.reading;
    const now = options.now();
    const stale = state.lastError !== undefined || state.scrapedAt === undefined || now - state.scrapedAt > staleAfterMs;
    return {
      scrapedAt: state.scrapedAt,
      stale,
      lastError: state.lastError,
      engines: r?.engines ?? 0,
      legacyNames: r?.legacy ?? false,
      running: r?.running,
      waiting: r?.waiting,
      kvCacheUsage: r?.kvUsage,
      prefixCacheHitRate: state.derived.prefixCacheHitRate,
      ttft: aged(state.derived.ttft, now),
      itl: aged(state.derived.itl, now),
      e2e: aged(state.derived.e2e, now),
    };
  };

  const dispose = () => {
    stop.abort();
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };

  return {
    start() {
      if (started || stop.signal.aborted) return;
      started = true;
      schedule(0);
    },
    scrapeOnce,
    get(id) {
      const state = states.get(id);
      return state === undefined ? undefined : snapshot(state);
    },
    snapshots() {
      return new Map([...states].map(([id, s]) => [id, snapshot(s)]));
    },
    dispose,
    [Symbol.dispose]: dispose,
  };
}

const first = <T>(names: readonly string[], read: (name: string) => T | undefined): { name: string; value: T } | undefined => {
  for (const name of names) {
    const value = read(name);
    if (value !== undefined) return { name, value };
  }
  return undefined;
};

/** The cumulative values of one endpoint; undefined when the text holds no vLLM engine metric at all. */
function readEngine(exposition: Exposition, dpRank: number | undefined): Reading | undefined {
  // Read only the addressed rank when the engine labels its samples by rank; engines older than the
  // `engine` label serve one rank per server, so all of it is that rank.
  const rank = dpRank === undefined ? undefined : String(dpRank);
  const labelled = rank !== undefined && NAMES.running.some((n) => exposition.samples(n).some((s) => s.labels['engine'] !== undefined));
  const filter: LabelFilter | undefined = labelled ? (labels) => labels['engine'] === rank : undefined;
  const kv = first(NAMES.kvUsage, (n) => meanOf(exposition, n, filter));
  const reading: Reading = {
    engines: 0,
    legacy: kv?.name === LEGACY_KV,
    running: first(NAMES.running, (n) => sumOf(exposition, n, filter))?.value,
    waiting: first(NAMES.waiting, (n) => sumOf(exposition, n, filter))?.value,
    kvUsage: kv?.value,
    hits: first(NAMES.hits, (n) => sumOf(exposition, n, filter))?.value,
    queries: first(NAMES.queries, (n) => sumOf(exposition, n, filter))?.value,
    ttft: first(NAMES.ttft, (n) => histogramOf(exposition, n, filter))?.value,
    itl: first(NAMES.itl, (n) => histogramOf(exposition, n, filter))?.value,
    e2e: first(NAMES.e2e, (n) => histogramOf(exposition, n, filter))?.value,
  };
  if (reading.running === undefined && reading.waiting === undefined && reading.kvUsage === undefined) return undefined;
  const engines = new Set<string>();
  for (const s of exposition.samples(NAMES.running[0])) if (filter === undefined || filter(s.labels)) engines.add(s.labels['engine'] ?? '');
  reading.engines = Math.max(1, engines.size);
  return reading;
}

/**
 * A counter's growth between two readings. A drop means the engine restarted and counted from zero, so the
 * new value is the growth (PromQL's `increase` does the same).
 */
function growth(before: number | undefined, after: number | undefined): number | undefined {
  if (after === undefined) return undefined;
  if (before === undefined || after < before) return after;
  return after - before;
}

/** What the interval between two readings adds; a quantity the interval did not observe keeps its last value. */
function window(previous: Derived, before: Reading, after: Reading, at: number): Derived {
  const queried = growth(before.queries, after.queries);
  const hit = growth(before.hits, after.hits);
  return {
    prefixCacheHitRate: queried !== undefined && queried > 0 && hit !== undefined ? Math.min(1, hit / queried) : previous.prefixCacheHitRate,
    ttft: latencyWindow(before.ttft, after.ttft, at) ?? previous.ttft,
    itl: latencyWindow(before.itl, after.itl, at) ?? previous.itl,
    e2e: latencyWindow(before.e2e, after.e2e, at) ?? previous.e2e,
  };
}

function aged(w: StoredWindow | undefined, now: number): LatencyWindow | undefined {
  if (w === undefined) return undefined;
  const { at, ...rest } = w;
  return { ...rest, ageMs: Math.max(0, now - at) };
}

function latencyWindow(before: HistogramData | undefined, after: HistogramData | undefined, at: number): StoredWindow | undefined {
  if (after === undefined) return undefined;
  // A histogram whose count went down was reset with its engine: the whole new histogram is the interval.
  const reset = before === undefined || after.count < before.count;
  const count = reset ? after.count : after.count - before.count;
  if (!(count > 0)) return undefined;
  const sum = reset ? after.sum : after.sum - before.sum;
  const earlier = new Map((reset ? [] : before.buckets).map((b) => [b.le, b.count]));
  const buckets = after.buckets.map((b) => ({ le: b.le, count: b.count - (earlier.get(b.le) ?? 0) }));
  return {
    meanMs: (sum / count) * 1000,
    p50Ms: scaled(bucketQuantile(buckets, 0.5)),
    p90Ms: scaled(bucketQuantile(buckets, 0.9)),
    count,
    at,
  };
}

const scaled = (seconds: number | undefined) => (seconds === undefined ? undefined : seconds * 1000);

/**
 * The q-quantile of cumulative buckets, interpolating linearly inside the bucket that holds it; in the +Inf
 * bucket the highest finite bound is the answer, as in PromQL.
 */
export function bucketQuantile(buckets: readonly { readonly le: number; readonly count: number }[], q: number): number | undefined {
  const total = buckets.at(-1)?.count;
  if (total === undefined || !(total > 0)) return undefined;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return lowerBound;
      const inBucket = b.count - lowerCount;
      return inBucket > 0 ? lowerBound + ((b.le - lowerBound) * (rank - lowerCount)) / inBucket : b.le;
    }
    lowerBound = b.le;
    lowerCount = b.count;
  }
  return lowerBound;
}
