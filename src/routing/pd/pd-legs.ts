// What both PD routers do per leg: pick and claim an endpoint of a role, send it the leg, relay the decode
// answer with the shared accounting (routing/leg.ts) plus PD's stage metrics, refuse with an OpenAI error;
// and the recorder the PD metrics come from.
import type { Endpoint } from '../../core/endpoint.ts';
import type { EndpointRegistry } from '../../core/registry.ts';
import { untriedCandidates } from '../../core/retry.ts';
import { isRouterError, routerError, type RouterError } from '../../wire/errors.ts';
import { stripClientKvParams } from './prefill-request.ts';
import type { Policy, RoutingRequest } from '../../policies/types.ts';
import { abortOnClientOrDeadline, type RequestAbort } from '../deadline.ts';
import { claimLeg, closeLeg, legTimer, relayLeg, type Leg, type LegDeps } from '../leg.ts';
import { isBrokenOutcome } from '../relay.ts';
import { streamEndsWithDone } from '../sse-done.ts';
import type { ProxyRequest } from '../router.ts';
import { reject } from '../../wire/reject.ts';
import { createRoutingRequest } from '../routing-request.ts';
import { eligibleEndpoints, unlistedModel, type ModelRouting } from '../eligible-endpoints.ts';
import { httpUpstreams, type UpstreamOf } from '../upstream.ts';

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

/** What every PD router needs, besides the shared leg accounting. */
export interface PdDeps extends LegDeps {
  readonly registry: EndpointRegistry;
  readonly prefillPolicy: Policy;
  readonly decodePolicy: Policy;
  readonly pd: PdRecorder;
  readonly requestTimeoutMs: number;
  /** Token-block hashes of the prompt (tokenizer pool), asked for only when a stage's policy wants them. */
  readonly blockHashes?: (route: string, body: Readonly<Record<string, unknown>>) => Promise<Float64Array | undefined>;
  /** --max-buffered-response-size: the most bytes of an engine answer the router reads whole (default 64 MiB). */
  readonly maxAnswerBytes?: number;
  /** How each endpoint is reached (default: vLLM's HTTP API). */
  readonly upstreamOf?: UpstreamOf;
  /** What each endpoint serves; without it every endpoint takes every model. */
  readonly models?: ModelRouting;
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

export async function startRun(deps: PdDeps, req: ProxyRequest): Promise<Run> {
  const wanted = (deps.prefillPolicy.wantsBlockHashes || deps.decodePolicy.wantsBlockHashes) && deps.blockHashes !== undefined && req.json !== undefined;
  const hashes = wanted ? await deps.blockHashes?.(req.route, req.json as Readonly<Record<string, unknown>>) : undefined;
  // A model nobody lists may be a LoRA adapter loaded since the listings were read: read them again first.
  if (unlistedModel(deps.models, 'prefill', req.model) || unlistedModel(deps.models, 'decode', req.model)) await deps.models!.refresher!.refreshAll();
  return {
    req,
    // Armed after tokenizing, as in the regular router: the deadline covers the upstream calls.
    abort: abortOnClientOrDeadline(req.clientSignal, deps.now() + deps.requestTimeoutMs, legTimer(deps)),
    body: req.json === undefined ? {} : stripClientKvParams(req.json),
    routing: createRoutingRequest(req.route, req.headers, req.json, req.bytes ?? new Uint8Array(0), hashes),
    failed: { prefill: new Set(), decode: new Set() },
  };
}

const policyOf = (deps: PdDeps, stage: PdStage) => (stage === 'prefill' ? deps.prefillPolicy : deps.decodePolicy);

/** The stage's policy choice among its available endpoints, preferring ones this request has not failed on. */
export function pick(deps: PdDeps, run: Run, stage: PdStage): Endpoint | RouterError {
  const eligible = eligibleEndpoints(deps.registry, deps.models, stage, run.req.model);
  if (isRouterError(eligible)) return eligible;
  const policy = policyOf(deps, stage);
  const candidates = untriedCandidates(eligible.endpoints, run.failed[stage]);
  const chosen = policy.select({ candidates, eligible: candidates === eligible.endpoints ? undefined : eligible.endpoints, model: eligible.model, all: deps.registry.all(stage), request: run.routing, stage });
  return chosen ?? routerError('no_available_endpoints', `Policy ${policy.name} found no ${stage} endpoint for this request`);
}

/** Takes the endpoint for one leg of `stage`, or undefined when its breaker refuses (a half-open probe slot is taken). */
export function claim(deps: PdDeps, run: Run, endpoint: Endpoint, stage: PdStage): Leg | undefined {
  const leg = claimLeg(deps, endpoint, { policy: policyOf(deps, stage).name, spanName: `${stage} leg`, parent: run.req.span, attributes: { 'router.pd_stage': stage, request_id: run.req.requestId } });
  if (leg !== undefined) deps.pd.legStarted(stage, endpoint.id);
  return leg;
}

/** Picks and claims, moving past endpoints whose breaker refuses; `first` is tried before asking the policy. */
export function pickAndClaim(deps: PdDeps, run: Run, stage: PdStage, first?: Endpoint): Leg | RouterError {
  for (let endpoint = first ?? pick(deps, run, stage); ; endpoint = pick(deps, run, stage)) {
    if (isRouterError(endpoint)) return endpoint;
    const claimed = claim(deps, run, endpoint, stage);
    if (claimed !== undefined) return claimed;
    if (run.failed[stage].has(endpoint.id)) return routerError('no_available_endpoints', `No ${stage} endpoint could take the request (circuits open)`);
    run.failed[stage].add(endpoint.id);
  }
}

/** Sends one leg through the endpoint's upstream. */
export function sendLeg(deps: PdDeps, leg: Leg, call: { readonly path: string; readonly method: string; readonly headers: Headers; readonly body: Uint8Array | null; readonly signal: AbortSignal; readonly timedOut: () => boolean }) {
  return (deps.upstreamOf ?? httpUpstreams)(leg.endpoint).send({ endpoint: leg.endpoint, ...call });
}

/**
 * A leg that failed before its answer was relayed: counted against the endpoint (`verdict` false or, for a 4xx,
 * true) or, when the request itself ended, given back without a verdict.
 */
export function failLeg(deps: PdDeps, leg: Leg, stage: PdStage, error: RouterError, verdict: boolean | undefined): void {
  closeLeg(deps, leg, { ok: verdict !== false, verdict, error: error.message });
  if (verdict !== undefined) deps.pd.legFailed(stage, leg.endpoint.id);
}

/** Ends a request the router answers itself, counted once. */
export function refuse(deps: PdDeps, run: Run, outcome: PdOutcome, e: RouterError): Response {
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
 * Relays the decode answer to the client unchanged: the shared accounting of every relayed answer, plus PD's
 * stage metrics. The hooks see only the request's small fields, never `run` or `req`: a long stream must not
 * keep the request's body and parsed JSON alive.
 */
export function relayDecode(deps: PdDeps, run: Run, leg: Leg, upstream: Response): Promise<Response> {
  const { req } = run;
  const { pd } = deps;
  const { endpoint, sentAt } = leg;
  const { route } = req;
  // The client leaving now cancels the relayed body, which aborts the decode engine's.
  run.abort.answered();
  const ok = upstream.status >= 200 && upstream.status <= 299;
  const isStream = (upstream.headers.get('content-type') ?? '').startsWith('text/event-stream');
  if (!ok) pd.legFailed('decode', endpoint.id);
  return relayLeg(
    deps,
    leg,
    upstream,
    {
      route,
      upstreamPath: req.upstreamPath,
      requestId: req.requestId,
      startedAt: req.startedAt,
      queueMs: req.queueMs,
      headers: req.headers,
      model: req.model,
      servedBy: run.prefillId === undefined ? endpoint.id : `${run.prefillId}, ${endpoint.id}`,
      expectDone: streamEndsWithDone(route, req.upstreamPath),
      abort: run.abort,
      onSettled: req.onSettled,
    },
    {
      onFirstByte: (now) => {
        if (isStream) pd.decodeFirstToken(endpoint.id, (now - sentAt) / 1000);
      },
      onEnd: (outcome, status, totalMs) => {
        const broken = isBrokenOutcome(outcome);
        if (broken) pd.streamError(endpoint.id);
        const ended = outcome === 'client_closed' ? 'client_closed' : broken ? 'stream_error' : status >= 200 && status <= 299 ? 'success' : 'decode_error';
        pd.finished(route, ended, totalMs / 1000, endpoint.id);
      },
    },
  );
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
  labels(...values: string[]): { inc(value?: number): void };
}
interface HistogramLike {
  labels(...values: string[]): { observe(value: number): void };
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

/** More keys than a fleet has endpoints × routes: past it a memo starts over rather than grow. */
const MAX_CHILDREN_KEPT = 4096;

/**
 * The child of `metric` per label value, looked up once and kept: a PD request reports about eight series,
 * and a label object per report (validated and mapped onto label order each time) was a visible share of
 * PD's CPU. The children are the metric's own, so the exposition shows every update.
 */
function childrenOf<C>(metric: { labels(...values: string[]): C }): (value: string) => C {
  let kept = new Map<string, C>();
  return (value) => {
    let child = kept.get(value);
    if (child === undefined) {
      if (kept.size >= MAX_CHILDREN_KEPT) kept = new Map();
      kept.set(value, (child = metric.labels(value)));
    }
    return child;
  };
}

export function pdRecorder(m: PdMetricSet): PdRecorder {
  const prefillRequests = childrenOf(m.pdPrefillRequests);
  const decodeRequests = childrenOf(m.pdDecodeRequests);
  const prefillErrors = childrenOf(m.pdPrefillErrors);
  const decodeErrors = childrenOf(m.pdDecodeErrors);
  const streamErrors = childrenOf(m.pdStreamErrors);
  const retries = childrenOf(m.pdRetries);
  const prefillDuration = childrenOf(m.pdPrefillDuration);
  const decodeFirstToken = childrenOf(m.pdDecodeFirstToken);
  const totalDuration = childrenOf(m.pdTotalDuration);
  const requests = childrenOf(m.pdRequests);
  const requestDuration = childrenOf(m.pdRequestDuration);
  const errors = childrenOf(m.pdErrors);
  // route → outcome → child.
  const outcomes = childrenOf({ labels: (route: string) => childrenOf({ labels: (outcome: string) => m.pdOutcomes.labels(route, outcome) }) });
  return {
    legStarted: (stage, worker) => (stage === 'prefill' ? prefillRequests : decodeRequests)(worker).inc(),
    legFailed: (stage, worker) => (stage === 'prefill' ? prefillErrors : decodeErrors)(worker).inc(),
    prefillDone: (worker, seconds) => prefillDuration(worker).observe(seconds),
    decodeFirstToken: (worker, seconds) => decodeFirstToken(worker).observe(seconds),
    streamError: (worker) => streamErrors(worker).inc(),
    retried: (stage) => retries(stage).inc(),
    finished(route, outcome, seconds, decodeWorker) {
      requests(route).inc();
      requestDuration(route).observe(seconds);
      outcomes(route)(outcome).inc();
      // Rust's one error_type is server_selection; the other failures keep their outcome's name.
      if (outcome !== 'success') errors(outcome === 'no_endpoint' ? 'server_selection' : outcome).inc();
      if (decodeWorker !== undefined) totalDuration(decodeWorker).observe(seconds);
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
