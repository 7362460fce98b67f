// Scrapes every endpoint's vLLM `/metrics` on an interval and keeps, per endpoint, its load (running,
// waiting, KV-cache usage) and what the latest interval between two scrapes observed (prefix-cache hit
// rate, TTFT, ITL and e2e latency), from the deltas of counters and histograms.
//
// vllm-metrics.ts fetches and reads each page (current and pre-0.11 names, summed over the `engine`
// (data-parallel rank) and `model_name` labels). A failed scrape keeps the last values but marks the
// snapshot stale: a dead engine must never look like an idle one (production-stack dropped it from the
// map, and its policies then read zeros).
import type { Logger } from '../log/logger.ts';
import { redirectNote } from '../net/redirect.ts';
import type { Exposition, HistogramData } from './prom-text.ts';
import { fetchVllmMetrics, readEngine, type Reading } from './vllm-metrics.ts';

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
  /**
   * The load of an endpoint that has no /metrics (a grpc:// engine: its GetLoads), or undefined for an HTTP one.
   * It gives running, waiting and KV-cache use; the latency windows stay empty.
   */
  readonly loadOf?: (url: string) => Promise<{ reading: Reading } | { error: string }> | undefined;
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

  // On the probe client (vllm-metrics.ts): streams holding every fetch slot must not make a live engine look stale.
  const fetchPage = async (url: string): Promise<{ exposition: Exposition } | { error: string }> => {
    const got = await fetchVllmMetrics(url, { timeoutMs: options.timeoutMs, apiKey: options.apiKey, signal: stop.signal });
    if (got.ok) return { exposition: got.page };
    const f = got.failure;
    if (f.kind === 'timeout') return { error: `timed out after ${options.timeoutMs} ms` };
    if (f.kind === 'status') return { error: `HTTP ${f.status}${redirectNote(f.status)}` };
    return { error: f.message };
  };

  const record = (target: ScrapeTarget, result: { exposition: Exposition } | { reading: Reading } | { error: string }) => {
    let state = states.get(target.id);
    if (state === undefined) {
      state = { reading: undefined, derived: { ...NO_WINDOW }, scrapedAt: undefined, lastError: undefined };
      states.set(target.id, state);
    }
    const reading = 'error' in result ? undefined : 'reading' in result ? result.reading : readEngine(result.exposition, target.dpRank);
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
        const result = (await options.loadOf?.(url)) ?? (await fetchPage(url));
        if (stop.signal.aborted) return;
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
