// Every Prometheus metric the router exports, defined once, on a registry the app owns.
import { Registry } from 'prom-client';
import { LeanCounter, LeanGauge, LeanHistogram } from './lean.ts';
import { createRequestSeries } from './request-series.ts';

/** The Rust router's buckets for *_duration_seconds. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 45, 60, 90, 120, 180, 240];

// vLLM's own buckets (vllm/v1/metrics/loggers.py), so router and engine histograms line up on one dashboard.
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const E2E_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];
const QOE_BUCKETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1];
const TPS_BUCKETS = [1, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000];
// |predicted − measured| / measured: _sum / _count is the mean absolute percentage error.
const ERROR_RATIO_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10];

export function createMetrics() {
  const registry = new Registry();
  const r = [registry];
  const m = {
    registry,
    requests: new LeanCounter({ name: 'vllm_router_requests_total', help: 'Requests answered, by route and status class', labelNames: ['route', 'status'], registers: r }),
    requestDuration: new LeanHistogram({ name: 'vllm_router_request_duration_seconds', help: 'Time from arrival to the end of the response body', labelNames: ['route'], buckets: DURATION_BUCKETS, registers: r }),
    requestErrors: new LeanCounter({ name: 'vllm_router_request_errors_total', help: 'Requests that failed, by route and error type', labelNames: ['route', 'error_type'], registers: r }),
    processed: new LeanCounter({ name: 'vllm_router_processed_requests_total', help: 'Requests sent to each endpoint', labelNames: ['worker'], registers: r }),
    running: new LeanGauge({ name: 'vllm_router_running_requests', help: 'Requests in flight to each endpoint', labelNames: ['worker'], registers: r }),
    policyDecisions: new LeanCounter({ name: 'vllm_router_policy_decisions_total', help: 'Routing decisions by policy and chosen endpoint', labelNames: ['policy', 'worker'], registers: r }),
    activeWorkers: new LeanGauge({ name: 'vllm_router_active_workers', help: 'Endpoints registered', registers: r }),
    workerHealth: new LeanGauge({ name: 'vllm_router_worker_health', help: 'Endpoint health (1 healthy, 0 unhealthy)', labelNames: ['worker'], registers: r }),
    endpointModels: new LeanGauge({ name: 'vllm_router_endpoint_models', help: 'Models each endpoint serves (1 per pair): configured, or read from its /v1/models; an endpoint not listed here may take any model until it is read', labelNames: ['worker', 'model'], registers: r }),
    modelListingFailures: new LeanCounter({ name: 'vllm_router_model_listing_failures_total', help: 'Reads of an endpoint\'s /v1/models that failed (it keeps the models it had; one never read may take any model)', labelNames: ['worker'], registers: r }),
    healthChecks: new LeanCounter({ name: 'vllm_router_health_checks_total', help: 'Health probes by endpoint and result', labelNames: ['worker', 'result'], registers: r }),
    streamOutcomes: new LeanCounter({ name: 'vllm_router_stream_outcomes_total', help: 'How response bodies ended: complete, upstream_error, stalled, truncated (a chat or completions stream without data: [DONE]), client_closed', labelNames: ['route', 'outcome'], registers: r }),

    // Resilience
    retries: new LeanCounter({ name: 'vllm_router_retries_total', help: 'Retried attempts by route', labelNames: ['route'], registers: r }),
    retriesExhausted: new LeanCounter({ name: 'vllm_router_retries_exhausted_total', help: 'Requests whose last attempt still failed retryably', labelNames: ['route'], registers: r }),
    retryBackoff: new LeanHistogram({ name: 'vllm_router_retry_backoff_duration_seconds', help: 'Backoff slept before a retry', labelNames: ['attempt'], buckets: DURATION_BUCKETS, registers: r }),
    cbState: new LeanGauge({ name: 'vllm_router_cb_state', help: 'Circuit breaker state (0 closed, 1 open, 2 half-open)', labelNames: ['worker'], registers: r }),
    cbTransitions: new LeanCounter({ name: 'vllm_router_cb_state_transitions_total', help: 'Circuit breaker transitions', labelNames: ['worker', 'from', 'to'], registers: r }),
    cbOutcomes: new LeanCounter({ name: 'vllm_router_cb_outcomes_total', help: 'Outcomes recorded by circuit breakers', labelNames: ['worker', 'outcome'], registers: r }),
    queueDepth: new LeanGauge({ name: 'vllm_router_queue_depth', help: 'Requests waiting for admission', registers: r }),
    admissionInUse: new LeanGauge({ name: 'vllm_router_admission_in_use', help: 'Admission slots held by requests in flight', registers: r }),
    queueWait: new LeanHistogram({ name: 'vllm_router_queue_wait_seconds', help: 'Time spent waiting for admission', buckets: DURATION_BUCKETS, registers: r }),
    admissionRejections: new LeanCounter({ name: 'vllm_router_admission_rejections_total', help: 'Requests refused by admission control, by reason (rate_limited, queue_timeout, client_closed; body_budget: --max-inflight-body-bytes was spent)', labelNames: ['reason'], registers: r }),
    bodyBytesHeld: new LeanGauge({ name: 'vllm_router_request_body_bytes_held', help: 'Request-body bytes the router holds now, counted against --max-inflight-body-bytes', registers: r }),
    bodyBytesLimit: new LeanGauge({ name: 'vllm_router_request_body_bytes_limit', help: 'The --max-inflight-body-bytes budget in force', registers: r }),

    // KV-cache events (kv_aware): the feed of each engine and what the router predicted from it
    kvEventBatches: new LeanCounter({ name: 'vllm_router_kv_event_batches_total', help: 'KV-event batches received from each endpoint', labelNames: ['worker'], registers: r }),
    kvEvents: new LeanCounter({ name: 'vllm_router_kv_events_total', help: 'KV events received from each endpoint (BlockStored, BlockRemoved, AllBlocksCleared)', labelNames: ['worker'], registers: r }),
    kvEventsSkipped: new LeanCounter({ name: 'vllm_router_kv_events_skipped_total', help: 'KV events not applied: block_size (another --kv-block-size), group (not full attention), unknown_type, malformed_event, lora_id (a gRPC engine names the adapter by number only), dp_rank (a gRPC batch of another data-parallel rank)', labelNames: ['worker', 'reason'], registers: r }),
    kvEventGaps: new LeanCounter({ name: 'vllm_router_kv_event_gaps_total', help: 'Gaps in an endpoint\'s KV-event sequence', labelNames: ['worker'], registers: r }),
    kvEventReplays: new LeanCounter({ name: 'vllm_router_kv_event_replays_total', help: 'Replays asked of an endpoint\'s replay socket, by outcome (requested, completed, timed_out, unavailable)', labelNames: ['worker', 'outcome'], registers: r }),
    kvEventPurges: new LeanCounter({ name: 'vllm_router_kv_index_purges_total', help: 'Times an endpoint\'s KV index was emptied: connected (a new feed connection), restart (the sequence went back), cleared (AllBlocksCleared), gap (a gRPC stream skipped batches, which it cannot replay)', labelNames: ['worker', 'cause'], registers: r }),
    kvEventStreamEnds: new LeanCounter({ name: 'vllm_router_kv_event_stream_ends_total', help: 'SubscribeKvEvents streams of a gRPC endpoint that ended or failed, by gRPC status (OK when the engine ended it); each is resubscribed with backoff', labelNames: ['worker', 'code'], registers: r }),
    kvEventMalformed: new LeanCounter({ name: 'vllm_router_kv_event_malformed_total', help: 'KV-event messages dropped as malformed (frames, msgpack, shape)', labelNames: ['worker'], registers: r }),
    kvIndexBlocks: new LeanGauge({ name: 'vllm_router_kv_index_blocks', help: 'KV blocks an endpoint holds, as its events say', labelNames: ['worker'], registers: r }),
    kvIndexOrphans: new LeanGauge({ name: 'vllm_router_kv_index_orphan_blocks', help: 'Of those, blocks whose parent chain the router has not seen', labelNames: ['worker'], registers: r }),
    kvFeedConnected: new LeanGauge({ name: 'vllm_router_kv_feed_connected', help: 'Whether the KV-event feed of an endpoint is connected (1) or not (0)', labelNames: ['worker'], registers: r }),
    kvPredictedCachedTokens: new LeanCounter({ name: 'vllm_router_kv_predicted_cached_tokens_total', help: 'Prompt tokens kv_aware predicted each endpoint had cached for the requests it sent there (compare with vllm:prefix_cache_hits_total)', labelNames: ['worker'], registers: r }),

    // Cache-aware policy and tokenizer pool (cumulative values are copied in at scrape time)
    cacheHits: new LeanCounter({ name: 'vllm_router_cache_hits_total', help: 'cache_aware requests routed to the endpoint holding their prefix', registers: r }),
    cacheMisses: new LeanCounter({ name: 'vllm_router_cache_misses_total', help: 'cache_aware requests whose best prefix match was at or below --cache-threshold', registers: r }),
    loadBalancingEvents: new LeanCounter({ name: 'vllm_router_load_balancing_events_total', help: 'cache_aware requests sent to the least-loaded endpoint because load was imbalanced (shared-prefix ones included)', registers: r }),
    sharedPrefixFallbacks: new LeanCounter({ name: 'vllm_router_cache_shared_prefix_fallbacks_total', help: 'cache_aware requests whose match was a prefix many requests share (a system prompt) held by an endpoint busier than the margin, sent to the least-loaded endpoint', registers: r }),
    maxLoad: new LeanGauge({ name: 'vllm_router_max_load', help: 'Highest in-flight count at the last imbalance', registers: r }),
    minLoad: new LeanGauge({ name: 'vllm_router_min_load', help: 'Lowest in-flight count at the last imbalance', registers: r }),
    treeSize: new LeanGauge({ name: 'vllm_router_tree_size', help: 'Prefix-index size per endpoint (characters, or tokens with a tokenizer)', labelNames: ['worker'], registers: r }),
    // sticky_least_loaded's session table (read at scrape time, summed over the policy slots)
    stickySessions: new LeanGauge({ name: 'vllm_router_sticky_sessions', help: 'Sessions sticky_least_loaded holds pinned now', registers: r }),
    stickySessionsPerWorker: new LeanGauge({ name: 'vllm_router_sticky_sessions_per_worker', help: 'Sessions pinned to each endpoint', labelNames: ['worker'], registers: r }),
    stickySessionsEnded: new LeanCounter({ name: 'vllm_router_sticky_sessions_ended_total', help: 'Sessions forgotten, by reason: finished (/finish_session), expired (idle past --session-ttl-secs), evicted (past --max-sessions, least recently used first)', labelNames: ['reason'], registers: r }),
    stickySessionRepins: new LeanCounter({ name: 'vllm_router_sticky_session_repins_total', help: 'Sessions moved to another endpoint because theirs could not take the request (unhealthy, breaker open, draining, removed)', registers: r }),
    tokenizeDuration: new LeanHistogram({ name: 'vllm_tokenizer_encode_duration_seconds', help: 'Time a pool thread spent rendering, encoding and hashing one prompt', buckets: DURATION_BUCKETS, registers: r }),
    tokenizeErrors: new LeanCounter({ name: 'vllm_tokenizer_encode_errors_total', help: 'Prompts the pool could not tokenize (routed without block hashes)', registers: r }),
    poolQueueDepth: new LeanGauge({ name: 'vllm_router_tokenizer_pool_queue_depth', help: 'Tokenize jobs waiting for a pool thread', registers: r }),
    poolRestarts: new LeanCounter({ name: 'vllm_router_tokenizer_pool_restarts_total', help: 'Pool threads that died and were replaced', registers: r }),

    // Prefill/decode disaggregation (Rust pd_* names, plus per-phase latency)
    pdRequests: new LeanCounter({ name: 'vllm_router_pd_requests_total', help: 'PD requests by route', labelNames: ['route'], registers: r }),
    pdRequestDuration: new LeanHistogram({ name: 'vllm_router_pd_request_duration_seconds', help: 'PD arrival to end of body', labelNames: ['route'], buckets: DURATION_BUCKETS, registers: r }),
    pdOutcomes: new LeanCounter({ name: 'vllm_router_pd_request_outcomes_total', help: 'How PD requests ended', labelNames: ['route', 'outcome'], registers: r }),
    pdErrors: new LeanCounter({ name: 'vllm_router_pd_errors_total', help: 'Failed PD requests', labelNames: ['error_type'], registers: r }),
    pdPrefillRequests: new LeanCounter({ name: 'vllm_router_pd_prefill_requests_total', help: 'Prefill legs sent', labelNames: ['worker'], registers: r }),
    pdDecodeRequests: new LeanCounter({ name: 'vllm_router_pd_decode_requests_total', help: 'Decode legs sent', labelNames: ['worker'], registers: r }),
    pdPrefillErrors: new LeanCounter({ name: 'vllm_router_pd_prefill_errors_total', help: 'Prefill legs failed', labelNames: ['worker'], registers: r }),
    pdDecodeErrors: new LeanCounter({ name: 'vllm_router_pd_decode_errors_total', help: 'Decode legs failed or answered an error', labelNames: ['worker'], registers: r }),
    pdStreamErrors: new LeanCounter({ name: 'vllm_router_pd_stream_errors_total', help: 'Decode bodies broken off or stalled', labelNames: ['worker'], registers: r }),
    pdRetries: new LeanCounter({ name: 'vllm_router_pd_retries_total', help: 'PD stage retries', labelNames: ['stage'], registers: r }),
    pdPrefillDuration: new LeanHistogram({ name: 'vllm_router_pd_prefill_duration_seconds', help: 'Prefill leg sent to its JSON read', labelNames: ['worker'], buckets: TTFT_BUCKETS, registers: r }),
    pdDecodeFirstToken: new LeanHistogram({ name: 'vllm_router_pd_decode_first_token_seconds', help: 'Decode leg sent to its first stream chunk', labelNames: ['worker'], buckets: TTFT_BUCKETS, registers: r }),
    pdTotalDuration: new LeanHistogram({ name: 'vllm_router_pd_total_duration_seconds', help: 'PD arrival to end of body, by decode endpoint', labelNames: ['worker'], buckets: E2E_BUCKETS, registers: r }),
    traceSpans: new LeanGauge({ name: 'vllm_router_trace_spans', help: 'Spans handed to the OTLP exporter, by result: exported, dropped (queue full), failed (export lost), queued', labelNames: ['result'], registers: r }),
    discoveryUpdates: new LeanCounter({ name: 'vllm_router_discovery_updates_total', help: 'Endpoint additions and removals from discovery', labelNames: ['source', 'change'], registers: r }),
    grpcErrors: new LeanCounter({ name: 'vllm_router_grpc_errors_total', help: 'Generations on grpc:// endpoints that failed, by endpoint and gRPC status (UNAVAILABLE, INTERNAL, …) or stage (before_first_token)', labelNames: ['worker', 'code'], registers: r }),
    grpcTokenizerFetches: new LeanCounter({ name: 'vllm_router_grpc_tokenizer_fetches_total', help: 'Tokenizers fetched at run time from grpc:// endpoints (GetTokenizer) for a model the router had none for, by outcome (loaded, failed)', labelNames: ['model', 'outcome'], registers: r }),
    grpcAborts: new LeanCounter({ name: 'vllm_router_grpc_aborts_total', help: 'Generations the router aborted on grpc:// endpoints (client gone, timeout, stop string reached)', labelNames: ['worker', 'reason'], registers: r }),

    // What the client experiences, measured on the bytes the router forwards
    ttft: new LeanHistogram({ name: 'vllm_router_time_to_first_token_seconds', help: 'Request arrival to the first body byte sent to the client (streams)', labelNames: ['worker', 'model'], buckets: TTFT_BUCKETS, registers: r }),
    itl: new LeanHistogram({ name: 'vllm_router_inter_token_latency_seconds', help: 'Gap between consecutive stream chunks sent to the client', labelNames: ['worker', 'model'], buckets: ITL_BUCKETS, registers: r }),
    e2e: new LeanHistogram({ name: 'vllm_router_e2e_request_latency_seconds', help: 'Request arrival to the last body byte sent', labelNames: ['worker', 'model'], buckets: E2E_BUCKETS, registers: r }),
    tokensPerSecond: new LeanHistogram({ name: 'vllm_router_decode_tokens_per_second', help: 'Completion tokens per second after the first token, per stream', labelNames: ['worker', 'model'], buckets: TPS_BUCKETS, registers: r }),
    promptTokens: new LeanCounter({ name: 'vllm_router_prompt_tokens_total', help: 'Prompt tokens reported by endpoints (usage objects)', labelNames: ['worker', 'model'], registers: r }),
    // QoE tracking (production-stack PRs #349 and #488): per endpoint phase times, per priority end-to-end time, SLA attainment, stream QoE
    prefillLatency: new LeanHistogram({ name: 'vllm_router_prefill_latency_seconds', help: 'Time to the first token of a stream (the prefill phase as the client sees it), per endpoint', labelNames: ['worker'], buckets: TTFT_BUCKETS, registers: r }),
    decodingThroughput: new LeanHistogram({ name: 'vllm_router_decoding_throughput_tokens_per_second', help: 'Stream events per second after the first, per stream and endpoint', labelNames: ['worker'], buckets: TPS_BUCKETS, registers: r }),
    e2eByPriority: new LeanHistogram({ name: 'vllm_router_end_to_end_latency_seconds', help: 'Request arrival to the end of the response body, by request priority (1 high … 3 low)', labelNames: ['priority'], buckets: E2E_BUCKETS, registers: r }),
    sla: new LeanCounter({ name: 'vllm_router_sla_requests_total', help: 'Streams whose first token came within their TTFT target (met) or not (missed), by priority', labelNames: ['priority', 'result'], registers: r }),
    streamQoe: new LeanHistogram({ name: 'vllm_router_stream_qoe', help: 'Streaming QoE per stream, 1 − delayed/whole area of the expected token timeline (Andes), by priority and endpoint', labelNames: ['priority', 'worker'], buckets: QOE_BUCKETS, registers: r }),
    // QoE latency prediction (issue #18): what the QoE policies predicted for the requests they sent, beside what was measured
    qoeTtft: new LeanHistogram({ name: 'vllm_router_qoe_ttft_seconds', help: 'QoE policies: TTFT predicted when a request was sent (source=predicted) and measured from its send to its first token (source=measured), per endpoint', labelNames: ['worker', 'source'], buckets: TTFT_BUCKETS, registers: r }),
    qoeTpot: new LeanHistogram({ name: 'vllm_router_qoe_tpot_seconds', help: 'QoE policies: time per output token the endpoint\'s decode line predicted just before a stream ended (source=predicted) and the stream\'s mean gap (source=measured)', labelNames: ['worker', 'source'], buckets: ITL_BUCKETS, registers: r }),
    qoePredictionError: new LeanHistogram({ name: 'vllm_router_qoe_prediction_error_ratio', help: 'QoE policies: |predicted − measured| / measured per request, by endpoint and metric (ttft, tpot); _sum/_count is the mean absolute percentage error', labelNames: ['worker', 'metric'], buckets: ERROR_RATIO_BUCKETS, registers: r }),
    completionTokens: new LeanCounter({ name: 'vllm_router_completion_tokens_total', help: 'Completion tokens reported by endpoints (usage objects)', labelNames: ['worker', 'model'], registers: r }),
  };
  // The per-request path updates children kept here, not looked up per update (request-series.ts).
  return { ...m, series: createRequestSeries(m) };
}

export type Metrics = ReturnType<typeof createMetrics>;

