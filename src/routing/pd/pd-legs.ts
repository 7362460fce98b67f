// What both PD routers do per leg: pick and claim an endpoint of a role, build the leg's headers, relay the
// decode answer with its accounting, refuse with an OpenAI error; and the recorder the PD metrics come from.
import type { BreakerTicket } from '../../core/circuit-breaker.ts';
import type { Endpoint } from '../../core/endpoint.ts';
import type { EndpointRegistry } from '../../core/registry.ts';
import { untriedCandidates } from '../../core/retry.ts';
import { isRouterError, routerError, type RouterError, statusClass } from '../../wire/errors.ts';
import { upstreamHeaders } from '../../wire/forward-headers.ts';
import { injectTraceContext } from '../../tracing/traceparent.ts';
import { NOOP_SPAN, type Span, type Tracer } from '../../tracing/tracer.ts';
import type { ExperienceFactory } from '../../signals/experience.ts';
import type { Logger } from '../../log/logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import { stripClientKvParams } from './prefill-request.ts';
import type { Policy, RoutingRequest } from '../../policies/types.ts';
import { abortOnClientOrDeadline, type RequestAbort } from '../deadline.ts';
import { isBrokenOutcome, relay } from '../proxy.ts';
import { streamEndsWithDone } from '../sse-done.ts';
import type { ProxyRequest } from '../regular.ts';
import { reject } from '../../wire/reject.ts';
import { createRoutingRequest } from '../routing-request.ts';

export type PdStage = 'prefill' | 'decode';

/** How a PD request ended, reported once per request. */
export type PdOutcome = 'success' | 'no_endpoint' | 'invalid_request' | 'prefill_error' | 'decode_error' | 'stream_error' | 'client_closed' | 'timeout';

/** What the PD routers report; small so tests can pass a fake, mapped onto Prometheus by `pdRecorder`. */
export interface PdRecorder {
  /** A leg was sent to `worker`. */
  legStarted(stage: PdStage, worker: string): void;
  /** A leg failed at `worker`: transport error, error status, unusable prefill answer. */
  legFailed(stage: PdStage, worker: string): void;
  /** A prefill leg succeeded, `seconds` after it was sent (its whole JSON answer read). */
  prefillDone(worker: string, seconds: number): void;
  /** A decode stream's first chunk, `seconds` after the decode leg was sent. */
  decodeFirstToken(worker: string, seconds: number): void;
  /** A decode body broke off or stalled after it started. */
  streamError(worker: string): void;
  /** A stage is tried again on another endpoint. */
  retried(stage: PdStage): void;
  /** The request is over: arrival → end of the response body; `decodeWorker` when a decode answer was relayed. */
  finished(route: string, outcome: PdOutcome, seconds: number, decodeWorker: string | undefined): void;
}

/** What every PD router needs. */
export interface LegDeps {
  readonly registry: EndpointRegistry;
  readonly prefillPolicy: Policy;
  readonly decodePolicy: Policy;
  readonly metrics: Metrics;
  readonly pd: PdRecorder;
  readonly log: Logger;
  /** Milliseconds on a monotonic clock. */
  readonly now: () => number;
  readonly requestTimeoutMs: number;
  /** Cut a decode stream that sends nothing for this long (0 or unset: never). */
  readonly stallTimeoutMs?: number;
  /** Sent as the bearer token on both legs instead of the client's, when configured (--api-key). */
  readonly apiKey: string | undefined;
  /** Token-block hashes of the prompt (tokenizer pool), asked for only when a stage's policy wants them. */
  readonly blockHashes?: (route: string, body: Readonly<Record<string, unknown>>) => Promise<Float64Array | undefined>;
  /** --max-buffered-response-size: the most bytes of an engine answer the router reads whole (default 64 MiB). */
  readonly maxAnswerBytes?: number;
  /** A client span per leg (default: none). */
  readonly tracer?: Tracer;
  /** The user's experience of each answer (SLA, stream QoE, time by priority), measured on the decode stream. */
  readonly experience?: ExperienceFactory;
}

/** One request while it is routed. */
export interface Run {
  readonly req: ProxyRequest;
  /** Fires when the client leaves or the request deadline passes: every leg in flight listens to it. */
  readonly abort: RequestAbort;
  /** The client's JSON body without its `kv_transfer_params` (an empty object when there is none). */
  readonly body: Readonly<Record<string, unknown>>;
  readonly routing: RoutingRequest;
  /** Endpoints this request failed on, per stage, skipped while others exist. */
  readonly failed: Readonly<Record<PdStage, Set<string>>>;
  /** The prefill endpoint whose KV the decode answer continues, for `x-served-by`. */
  prefillId?: string;
}

export async function startRun(deps: LegDeps, req: ProxyRequest): Promise<Run> {
  const wanted = (deps.prefillPolicy.wantsBlockHashes || deps.decodePolicy.wantsBlockHashes) && deps.blockHashes !== undefined && req.json !== undefined;
  const hashes = wanted ? await deps.blockHashes?.(req.route, req.json as Readonly<Record<string, unknown>>) : undefined;
  return {
    req,
    // Armed after tokenizing, as in the regular router: the deadline covers the upstream calls.
    abort: abortOnClientOrDeadline(req.clientSignal, deps.requestTimeoutMs),
    body: req.json === undefined ? {} : stripClientKvParams(req.json),
    routing: createRoutingRequest(req.route, req.headers, req.json, req.bytes ?? new Uint8Array(0), hashes),
    failed: { prefill: new Set(), decode: new Set() },
  };
}

/** An endpoint that took a leg: its breaker ticket, and its in-flight count given back once by `release`. */
export interface Claim {
  readonly endpoint: Endpoint;
  readonly ticket: BreakerTicket;
  /** `now()` when the leg was claimed. */
  readonly sentAt: number;
  /** The leg's client span (NOOP_SPAN when not traced); its context goes upstream as `traceparent`. */
  readonly span: Span;
  /** Gives the endpoint back and ends the leg's span, once. */
  release(): void;
}

const policyOf = (deps: LegDeps, stage: PdStage) => (stage === 'prefill' ? deps.prefillPolicy : deps.decodePolicy);

/** The stage's policy choice among its available endpoints, preferring ones this request has not failed on. */
export function pick(deps: LegDeps, run: Run, stage: PdStage): Endpoint | RouterError {
  const available = deps.registry.available(stage);
  if (available.length === 0) return routerError('no_available_endpoints', `No available ${stage} endpoints (all unhealthy, circuits open or none registered)`);
  const policy = policyOf(deps, stage);
  const chosen = policy.select({ candidates: untriedCandidates(available, run.failed[stage]), all: deps.registry.all(stage), request: run.routing, stage });
  return chosen ?? routerError('no_available_endpoints', `Policy ${policy.name} found no ${stage} endpoint for this request`);
}

/** Takes the endpoint for one leg, or undefined when its breaker refuses (a half-open probe slot is taken). */
export function claim(deps: LegDeps, run: Run, endpoint: Endpoint, stage: PdStage): Claim | undefined {
  const ticket = endpoint.breaker.acquire();
  if (ticket === undefined) return undefined;
  const parent = run.req.span;
  const span =
    deps.tracer?.enabled && parent !== undefined
      ? deps.tracer.startSpan(`${stage} leg`, { parent: parent.context, kind: 'client', attributes: { 'router.pd_stage': stage, 'server.address': endpoint.id, request_id: run.req.requestId } })
      : NOOP_SPAN;
  const { metrics } = deps;
  endpoint.inFlight++;
  metrics.running.labels(endpoint.id).inc();
  metrics.processed.labels(endpoint.id).inc();
  metrics.policyDecisions.labels(policyOf(deps, stage).name, endpoint.id).inc();
  deps.pd.legStarted(stage, endpoint.id);
  let released = false;
  return {
    endpoint,
    ticket,
    sentAt: deps.now(),
    span,
    release() {
      if (released) return;
      released = true;
      endpoint.inFlight--;
      metrics.running.labels(endpoint.id).dec();
      span.end();
    },
  };
}

/** Picks and claims, moving past endpoints whose breaker refuses; `first` is tried before asking the policy. */
export function pickAndClaim(deps: LegDeps, run: Run, stage: PdStage, first?: Endpoint): Claim | RouterError {
  for (let endpoint = first ?? pick(deps, run, stage); ; endpoint = pick(deps, run, stage)) {
    if (isRouterError(endpoint)) return endpoint;
    const claimed = claim(deps, run, endpoint, stage);
    if (claimed !== undefined) return claimed;
    if (run.failed[stage].has(endpoint.id)) return routerError('no_available_endpoints', `No ${stage} endpoint could take the request (circuits open)`);
    run.failed[stage].add(endpoint.id);
  }
}

/**
 * The client's headers minus hop-by-hop, `xRequestId` as X-Request-Id, the router's key, the DP rank.
 * `rewritten`: the router serialised the body itself. `plainBody`: the router reads this answer, so it must
 * come uncompressed (fetch runs with decompress: false).
 */
export function legHeaders(deps: LegDeps, req: ProxyRequest, leg: Claim, xRequestId: string, rewritten: boolean, plainBody: boolean): Headers {
  const { endpoint } = leg;
  const extra: Record<string, string> = {};
  if (rewritten) extra['content-type'] = 'application/json';
  if (deps.apiKey !== undefined) extra.authorization = `Bearer ${deps.apiKey}`;
  if (endpoint.dpRank !== undefined) extra['x-data-parallel-rank'] = String(endpoint.dpRank);
  const headers = upstreamHeaders(req.headers, xRequestId, extra);
  if (rewritten) headers.delete('content-encoding');
  if (plainBody) headers.delete('accept-encoding');
  injectTraceContext(headers, leg.span.context);
  return headers;
}

/** Ends a request the router answers itself, counted once. */
export function refuse(deps: LegDeps, run: Run, outcome: PdOutcome, e: RouterError): Response {
  run.abort.done();
  deps.pd.finished(run.req.route, outcome, (deps.now() - run.req.startedAt) / 1000, undefined);
  run.req.onSettled?.();
  return reject(deps, run.req.route, run.req.requestId, e);
}

/** Set when the request itself ended (deadline first, then the client), whatever a leg reported. */
export const endedBy = (run: Run, e?: RouterError): PdOutcome | undefined =>
  run.abort.timedOut ? 'timeout' : e?.kind === 'client_closed' || run.abort.signal.aborted ? 'client_closed' : undefined;

export const abortedError = (run: Run, what: string): RouterError =>
  run.abort.timedOut ? routerError('upstream_timeout', `${what} did not answer before the request deadline`) : routerError('client_closed', 'Client closed the connection');

/**
 * Relays the decode answer to the client unchanged and does the accounting when its body ends. The hooks
 * see only the request's small fields, never `run` or `req`: a long stream must not keep the request's body
 * and parsed JSON alive.
 */
export function relayDecode(deps: LegDeps, run: Run, leg: Claim, upstream: Response): Promise<Response> {
  const { route, requestId, startedAt, onSettled } = run.req;
  const abort = run.abort;
  const { endpoint } = leg;
  const { metrics, pd } = deps;
  const status = upstream.status;
  const ok = status >= 200 && status <= 299;
  const isStream = (upstream.headers.get('content-type') ?? '').startsWith('text/event-stream');
  if (!ok) pd.legFailed('decode', endpoint.id);
  let first = true;
  const experience = deps.experience?.(run.req.headers, startedAt, endpoint.id, isStream);
  return relay(upstream, requestId, {
    servedBy: run.prefillId === undefined ? endpoint.id : `${run.prefillId}, ${endpoint.id}`,
    stallTimeoutMs: deps.stallTimeoutMs ?? 0,
    expectDone: streamEndsWithDone(route, run.req.upstreamPath),
    onChunk(chunk) {
      experience?.chunk(chunk, deps.now());
      if (!first) return;
      first = false;
      if (isStream) pd.decodeFirstToken(endpoint.id, (deps.now() - leg.sentAt) / 1000);
    },
    onEnd(outcome) {
      leg.release();
      abort.done();
      const broken = isBrokenOutcome(outcome);
      if (outcome === 'client_closed') leg.ticket.release();
      else leg.ticket.record(status < 500 && !broken);
      if (broken) pd.streamError(endpoint.id);
      experience?.finish(deps.now(), ok && !broken && outcome !== 'client_closed');
      const seconds = (deps.now() - startedAt) / 1000;
      pd.finished(route, outcome === 'client_closed' ? 'client_closed' : broken ? 'stream_error' : ok ? 'success' : 'decode_error', seconds, endpoint.id);
      metrics.requests.labels(route, statusClass(status)).inc();
      metrics.requestDuration.labels(route).observe(seconds);
      metrics.streamOutcomes.labels(route, outcome).inc();
      if (outcome !== 'complete') deps.log.warn('response body did not complete', { request_id: requestId, route, endpoint: endpoint.id, outcome });
      onSettled?.();
    },
  });
}

/** The message and `param` of an endpoint's error body (OpenAI envelope, vLLM's legacy flat shape, FastAPI's detail). */
export function describeFailure(text: string): { message: string; param: string | null } {
  const short = (s: string) => (s.length > 500 ? `${s.slice(0, 500)}…` : s);
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown; detail?: unknown; param?: unknown };
    const inner = typeof body.error === 'object' && body.error !== null ? (body.error as { message?: unknown; param?: unknown }) : undefined;
    const message = inner?.message ?? (typeof body.error === 'string' ? body.error : undefined) ?? body.message ?? body.detail;
    const param = inner?.param ?? body.param;
    return { message: short(typeof message === 'string' ? message : JSON.stringify(message ?? text)), param: typeof param === 'string' ? param : null };
  } catch {
    return { message: short(text.trim() || '(empty body)'), param: null };
  }
}

interface CounterLike {
  inc(labels: Record<string, string>, value?: number): void;
}
interface HistogramLike {
  observe(labels: Record<string, string>, value: number): void;
}

/** The PD series metrics.ts is asked to define (names and labels in each comment). */
export interface PdMetricSet {
  /** vllm_router_pd_requests_total{route} (Rust) */
  readonly pdRequests: CounterLike;
  /** vllm_router_pd_request_duration_seconds{route} (Rust) */
  readonly pdRequestDuration: HistogramLike;
  /** vllm_router_pd_request_outcomes_total{route,outcome} */
  readonly pdOutcomes: CounterLike;
  /** vllm_router_pd_errors_total{error_type} (Rust) */
  readonly pdErrors: CounterLike;
  /** vllm_router_pd_prefill_requests_total{worker} (Rust) */
  readonly pdPrefillRequests: CounterLike;
  /** vllm_router_pd_decode_requests_total{worker} (Rust) */
  readonly pdDecodeRequests: CounterLike;
  /** vllm_router_pd_prefill_errors_total{worker} (Rust) */
  readonly pdPrefillErrors: CounterLike;
  /** vllm_router_pd_decode_errors_total{worker} (Rust) */
  readonly pdDecodeErrors: CounterLike;
  /** vllm_router_pd_stream_errors_total{worker} (Rust) */
  readonly pdStreamErrors: CounterLike;
  /** vllm_router_pd_retries_total{stage} */
  readonly pdRetries: CounterLike;
  /** vllm_router_pd_prefill_duration_seconds{worker} */
  readonly pdPrefillDuration: HistogramLike;
  /** vllm_router_pd_decode_first_token_seconds{worker} */
  readonly pdDecodeFirstToken: HistogramLike;
  /** vllm_router_pd_total_duration_seconds{worker} (the decode endpoint) */
  readonly pdTotalDuration: HistogramLike;
}

export function pdRecorder(m: PdMetricSet): PdRecorder {
  return {
    legStarted: (stage, worker) => (stage === 'prefill' ? m.pdPrefillRequests : m.pdDecodeRequests).inc({ worker }),
    legFailed: (stage, worker) => (stage === 'prefill' ? m.pdPrefillErrors : m.pdDecodeErrors).inc({ worker }),
    prefillDone: (worker, seconds) => m.pdPrefillDuration.observe({ worker }, seconds),
    decodeFirstToken: (worker, seconds) => m.pdDecodeFirstToken.observe({ worker }, seconds),
    streamError: (worker) => m.pdStreamErrors.inc({ worker }),
    retried: (stage) => m.pdRetries.inc({ stage }),
    finished(route, outcome, seconds, decodeWorker) {
      m.pdRequests.inc({ route });
      m.pdRequestDuration.observe({ route }, seconds);
      m.pdOutcomes.inc({ route, outcome });
      // Rust's one error_type is server_selection; the other failures keep their outcome's name.
      if (outcome !== 'success') m.pdErrors.inc({ error_type: outcome === 'no_endpoint' ? 'server_selection' : outcome });
      if (decodeWorker !== undefined) m.pdTotalDuration.observe({ worker: decodeWorker }, seconds);
    },
  };
}

/** Records nothing. */
export const noopPdRecorder: PdRecorder = {
  legStarted() {},
  legFailed() {},
  prefillDone() {},
  decodeFirstToken() {},
  streamError() {},
  retried() {},
  finished() {},
};
