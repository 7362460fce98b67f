// The policy interface: given the available endpoints and a request, pick one.
import type { Endpoint } from '../core/endpoint.ts';
import type { EndpointStats } from '../signals/endpoint-stats.ts';
import type { EngineMetricsReader } from '../signals/engine-metrics.ts';
import type { KvEventsReader } from '../signals/kv-events/kv-events.ts';
import type { QoeOptionsInput } from './qoe/options.ts';
import type { PolicyName } from '../config/policy-names.ts';

/** What a policy may look at in a request. Everything is read-only and computed at most once. */
export interface RoutingRequest {
  /** Router path, e.g. `/v1/chat/completions`. */
  readonly route: string;
  /** Client headers (case-insensitive). */
  readonly headers: Headers;
  /** The parsed JSON body when it is an object, else undefined. */
  readonly body: Readonly<Record<string, unknown>> | undefined;
  /** The text a prefix-aware policy matches on (whole conversation for chat, prompt for completions…). */
  readonly text: string;
  /**
   * Chained hashes of the prompt's token blocks (`--block-size` tokens each), when a tokenizer is
   * configured and the policy asked for them: element i identifies tokens [0, (i+1)·block) exactly,
   * as a 52-bit integer stored exactly in a double.
   */
  readonly blockHashes?: Float64Array;
}

export interface SelectContext {
  /** Endpoints that may take the request now (healthy, breaker closed, not draining). Never empty. */
  readonly candidates: readonly Endpoint[];
  /**
   * On a retry, the endpoints that were eligible before the ones this request already tried were set aside
   * (`candidates` keeps their order): round_robin steps through this list, as the Rust router's re-run of
   * the policy does. Unset on a first attempt, when it is `candidates` itself.
   */
  readonly eligible?: readonly Endpoint[];
  /** The model the request names, when some endpoint lists it; policies that keep per-model state key it on this. */
  readonly model?: string;
  /** Every endpoint of this pool, available or not; hash rings are built over it so they stay stable. */
  readonly all: readonly Endpoint[];
  readonly request: RoutingRequest;
  /** In PD mode, the stage this pool serves; policies that score phases differently (the QoE ones) use it. */
  readonly stage?: 'prefill' | 'decode';
}

export interface Policy {
  readonly name: PolicyName;
  /** Set by policies that route on token blocks: the router tokenizes (in the pool) before `select`. */
  readonly wantsBlockHashes?: boolean;
  /** Pick one of `ctx.candidates`. Returning undefined means "no choice" and yields a 503. */
  select(ctx: SelectContext): Endpoint | undefined;
  /** Endpoints were added or removed; drop whatever state belongs to endpoints that are gone. */
  onMembershipChange?(all: readonly Endpoint[]): void;
  /** Stop background work (eviction timers…). */
  dispose?(): void;
  /** The prefix index's counters, from a policy that keeps one (cache_aware); undefined from a slot holding another. */
  cacheStats?(): CacheAwareStats | undefined;
  /** Forgets a pinned session (POST /finish_session); true when the policy held it. */
  finishSession?(sessionId: string): boolean;
  /** The session table's counters, from a policy that pins sessions (sticky_least_loaded). */
  sessionStats?(): SessionStats | undefined;
}

/** What sticky_least_loaded's session table holds and has dropped, read at scrape time for the session metrics. */
export interface SessionStats {
  readonly size: number;
  /** Sessions pushed out by --max-sessions, least recently used first. */
  readonly evictions: number;
  /** Sessions idle past --session-ttl-secs. */
  readonly expiries: number;
  /** Sessions ended by /finish_session. */
  readonly released: number;
  /** Sessions moved because their endpoint could not take the request. */
  readonly repins: number;
  /** Sessions pinned to each endpoint id. */
  readonly perEndpoint: ReadonlyMap<string, number>;
}

/** What cache_aware has done so far, read at scrape time for the cache metrics. */
export interface CacheAwareStats {
  /** Requests routed to the endpoint holding their prefix (match ratio above the threshold). */
  readonly hits: number;
  /** Requests whose best match was at or below the threshold. */
  readonly misses: number;
  /** Requests routed to the least-loaded endpoint because load was imbalanced, shared-prefix ones included. */
  readonly loadBalancingFallbacks: number;
  /** Of those, requests whose match was a shared prefix held by an endpoint busier than the margin. */
  readonly sharedPrefixFallbacks: number;
  /** Loads seen at the last imbalance (Rust's max_load / min_load gauges). */
  readonly lastMaxLoad: number;
  readonly lastMinLoad: number;
  /** Index size per endpoint id, in `unit`. */
  readonly indexSize: ReadonlyMap<string, number>;
  readonly unit: 'chars' | 'tokens';
  /** kv_aware: the cached tokens the router predicted for the requests it sent each endpoint, summed. */
  readonly predictedCachedTokens?: ReadonlyMap<string, number>;
}

/** Tuning shared by the policies, taken from the configuration. */
export interface PolicyOptions {
  cacheThreshold: number;
  balanceAbsThreshold: number;
  balanceRelThreshold: number;
  evictionIntervalSecs: number;
  maxTreeSize: number;
  /** --session-header: a header (or top-level body field) naming the session, checked first by the session-keyed policies. */
  sessionHeader?: string;
  /** sticky_least_loaded: a session idle this long is forgotten (--session-ttl-secs), in milliseconds. */
  sessionTtlMs?: number;
  /** sticky_least_loaded: the most sessions remembered (--max-sessions); the least recently used go first. */
  maxSessions?: number;
  /** qoe_centric and disaggregated_qoe; every field has a default (src/policies/qoe/options.ts). */
  qoe?: QoeOptionsInput;
}

/** Live measurements a policy may read; a policy given none falls back to the router's in-flight counts. */
export interface PolicySignals {
  /** Router-side request statistics (TTFT, ITL, speed, phase counts, error rate) per endpoint id. */
  readonly endpointStats?: Pick<EndpointStats, 'snapshot'> & Partial<Pick<EndpointStats, 'subscribe' | 'live'>>;
  /** Engine-side statistics scraped from each endpoint's /metrics. */
  readonly engineMetrics?: EngineMetricsReader;
  /** The clock `endpointStats` is fed with (its QPS window depends on it); default `PolicyDeps.now`. */
  readonly statsClock?: () => number;
  /** What each engine's KV-cache events say it holds (kv_aware). */
  readonly kvEvents?: KvEventsReader;
}

/** Where the QoE policies report each prediction beside what was then measured (the metrics, in the router). */
export interface PredictionRecorder {
  /** The TTFT predicted when the request was sent, and the time from its send to its first token. */
  ttft(endpoint: string, predictedMs: number, measuredMs: number): void;
  /** The TPOT the endpoint's decode line predicted for a stream just before its end, and the stream's mean gap. */
  tpot(endpoint: string, predictedMs: number, measuredMs: number): void;
}

export interface PolicyDeps {
  /** Uniform in [0, 1); injected so tests are deterministic. */
  readonly random: () => number;
  /** Milliseconds; injected so tests control time. */
  readonly now: () => number;
  readonly options: PolicyOptions;
  readonly signals?: PolicySignals;
  /**
   * Set when the tokenizer pool hashes each prompt into blocks of `blockSize` tokens (--tokenizer-path or
   * --model-path): prefix-aware policies then match on those block hashes, vLLM's prefix-cache keys.
   */
  readonly tokenizer?: { readonly blockSize: number };
  /** The QoE policies' predictions against measurements, for the metrics. */
  readonly predictions?: PredictionRecorder;
}

export type PolicyFactory = (deps: PolicyDeps) => Policy;
