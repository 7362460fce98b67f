// Regular mode: pick an endpoint with the policy, send the request there, relay the answer, account for it.
// Failed attempts are retried on another endpoint while nothing has reached the client yet.
import type { Endpoint } from '../core/endpoint.ts';
import type { EndpointRegistry } from '../core/registry.ts';
import { sleep, untriedCandidates, type RetryPolicy } from '../core/retry.ts';
import type { TokenIds } from '../grpc/generation.ts';
import type { Policy, RoutingRequest } from '../policies/types.ts';
import { NOOP_TRACER } from '../tracing/tracer.ts';
import { isRouterError, routerError, type RouterError } from '../wire/errors.ts';
import { reject } from '../wire/reject.ts';
import { abortOnClientOrDeadline } from './deadline.ts';
import { claimLeg, closeLeg, legHeaders, legTimer, relayLeg, type Leg, type LegDeps } from './leg.ts';
import type { ProxyRequest, Router } from './router.ts';
import { eligibleEndpoints, unlistedModel, type ModelRouting } from './eligible-endpoints.ts';
import { createRoutingRequest } from './routing-request.ts';
import { streamEndsWithDone } from './sse-done.ts';
import { httpUpstreams, type UpstreamOf } from './upstream.ts';

export interface RegularRouterDeps extends LegDeps {
  readonly registry: EndpointRegistry;
  readonly policy: Policy;
  readonly retry: RetryPolicy;
  readonly random: () => number;
  readonly requestTimeoutMs: number;
  /** Block hashes of the prompt, computed in the tokenizer pool (only when the policy asks for them). */
  readonly blockHashes?: (route: string, body: Readonly<Record<string, unknown>>) => Promise<Float64Array | undefined>;
  /** How each endpoint is reached (default: vLLM's HTTP API). */
  readonly upstreamOf?: UpstreamOf;
  /** What each endpoint serves; without it every endpoint takes every model. */
  readonly models?: ModelRouting;
  /**
   * The prompt's token ids and block hashes, computed once in the pool for a fleet with gRPC endpoints (which are
   * sent token ids); the policy's block hashes then come from the same tokenization.
   */
  readonly promptTokens?: (route: string, body: Readonly<Record<string, unknown>>) => Promise<PromptTokens | undefined>;
  /** Whether any endpoint of the fleet needs the prompt as token ids (a gRPC endpoint). */
  readonly fleetNeedsTokens?: () => boolean;
}

export interface PromptTokens {
  readonly ids: TokenIds;
  /** The ids as protobuf packed varints, from the pool thread. */
  readonly packedIds?: Uint8Array | undefined;
  readonly blockHashes: Float64Array | undefined;
}

export function createRegularRouter(deps: RegularRouterDeps): Router {
  return { route: (req) => routeRegular(deps, req) };
}

/** Errors of an attempt that are the endpoint's (its breaker hears of them); the others are the router's refusals. */
const ENDPOINT_FAULTS: ReadonlySet<RouterError['kind']> = new Set(['upstream_unreachable', 'upstream_timeout', 'upstream_error', 'stream_interrupted', 'upstream_stalled', 'upstream_too_large']);

/** The attempts of one request: at most `retry.maxAttempts`, each on an endpoint this request has not failed on. */
async function routeRegular(deps: RegularRouterDeps, req: ProxyRequest): Promise<Response> {
  const { retry } = deps;
  const failed = new Set<string>();
  // Tokenizing happens once, in the pool, before the first pick; retries reuse the ids and hashes.
  const tokens = deps.promptTokens && req.json && deps.fleetNeedsTokens?.() ? await deps.promptTokens(req.route, req.json) : undefined;
  const blockHashes = !deps.policy.wantsBlockHashes
    ? undefined
    : tokens !== undefined
      ? tokens.blockHashes
      : deps.blockHashes && req.json
        ? await deps.blockHashes(req.route, req.json)
        : undefined;
  const request = createRoutingRequest(req.route, req.headers, req.json, req.bytes ?? new Uint8Array(0), blockHashes);
  // A model nobody lists may be a LoRA adapter loaded since the listings were read: read them again first.
  if (unlistedModel(deps.models, 'regular', req.model)) await deps.models!.refresher!.refreshAll();
  for (let n = 0; ; n++) {
    const ended = n > 0 ? await backoff(deps, req, n) : undefined;
    if (ended !== undefined) return refuse(deps, req, ended);
    // One clock read per attempt: the deadline check, the leg's send time and the deadline's first look.
    const now = deps.now();
    if (now - req.startedAt >= deps.requestTimeoutMs) return refuse(deps, req, routerError('upstream_timeout', `No answer within --request-timeout-secs (${deps.requestTimeoutMs / 1000} s)`));
    const last = n + 1 >= retry.maxAttempts;
    const endpoint = pick(deps, req, request, failed, n + 1);
    if (isRouterError(endpoint)) return refuse(deps, req, endpoint);
    const leg = claimLeg(deps, endpoint, {
      policy: deps.policy.name,
      spanName: 'upstream',
      parent: req.span,
      attributes: { 'http.request.method': req.method, 'url.path': req.route, request_id: req.requestId },
    }, now);
    failed.add(endpoint.id);
    if (leg === undefined) {
      // Lost the last half-open probe slot to a concurrent request: try another endpoint, without backoff.
      if (last) return refuse(deps, req, routerError('no_available_endpoints', 'No endpoint could take the request (circuits open)'));
      continue;
    }
    const answer = await attempt(deps, req, leg, last, n + 1, tokens);
    if (answer !== 'retry') return answer;
  }
}

/** Waits out the backoff before attempt `n + 1`; the error when the client left meanwhile. */
async function backoff(deps: RegularRouterDeps, req: ProxyRequest, n: number): Promise<RouterError | undefined> {
  const wait = deps.retry.backoffMs(n - 1, deps.random);
  deps.metrics.retries.inc({ route: req.route });
  deps.metrics.retryBackoff.observe({ attempt: String(n) }, wait / 1000);
  return (await sleep(wait, req.clientSignal)) ? undefined : routerError('client_closed', 'Client closed the connection');
}

/** The policy's choice among available endpoints, preferring ones not tried yet; as its own span when traced. */
function pick(deps: RegularRouterDeps, req: ProxyRequest, request: RoutingRequest, failed: ReadonlySet<string>, attemptNo: number): Endpoint | RouterError {
  const { registry, policy } = deps;
  const choose = (): Endpoint | RouterError => {
    const upstreamOf = deps.upstreamOf ?? httpUpstreams;
    const eligible = eligibleEndpoints(registry, deps.models, 'regular', req.model);
    if (isRouterError(eligible)) return eligible;
    // A route only some kinds of endpoint serve (gRPC engines answer chat, completions and embeddings) goes to
    // those; a fleet whose endpoints all serve it keeps its list as it is (no copy).
    const serves = (e: Endpoint) => upstreamOf(e).serves?.(req.route) ?? true;
    const serving = eligible.endpoints.every(serves) ? eligible.endpoints : eligible.endpoints.filter(serves);
    if (serving.length === 0)
      return routerError('not_implemented', `No endpoint of the fleet serves ${req.route === 'fallback' ? req.upstreamPath.split('?')[0] : req.route}: gRPC endpoints answer only /v1/chat/completions, /v1/completions, /v1/embeddings and /v1/models, and no HTTP endpoint is available`);
    const candidates = untriedCandidates(serving, failed);
    const chosen = policy.select({ candidates, eligible: candidates === serving ? undefined : serving, model: eligible.model, all: registry.all('regular'), request });
    return chosen ?? routerError('no_available_endpoints', `Policy ${policy.name} found no endpoint for this request`);
  };
  if (req.span === undefined || !req.span.recording) return choose();
  const tracer = deps.tracer ?? NOOP_TRACER;
  const span = tracer.startSpan('route', { parent: req.span.context, attributes: { 'router.policy': policy.name, 'router.attempt': attemptNo, 'router.excluded_endpoints': failed.size } });
  const chosen = choose();
  if (isRouterError(chosen)) span.setStatus(chosen.message);
  else span.setAttribute('router.endpoint', chosen.id);
  span.end();
  return chosen;
}

/**
 * One attempt on the claimed endpoint: the client's response, or 'retry' when this failure may be tried
 * elsewhere (nothing has reached the client yet).
 */
async function attempt(deps: RegularRouterDeps, req: ProxyRequest, leg: Leg, last: boolean, attemptNo: number, tokens: PromptTokens | undefined): Promise<Response | 'retry'> {
  const { retry, metrics } = deps;
  const { endpoint } = leg;
  // --request-timeout-secs bounds the whole request: retries share what is left of it.
  const abort = abortOnClientOrDeadline(req.clientSignal, req.startedAt + deps.requestTimeoutMs, legTimer(deps), leg.sentAt);
  // Every field written, none spread in: one object of one shape per call.
  const upstream = await (deps.upstreamOf ?? httpUpstreams)(endpoint).send({
    endpoint,
    path: req.upstreamPath,
    method: req.method,
    headers: legHeaders(deps, req.headers, leg, req.requestId),
    body: req.bytes,
    signal: abort.signal,
    timedOut: () => abort.timedOut,
    route: req.route,
    json: req.json,
    promptIds: tokens?.ids,
    promptPackedIds: tokens?.packedIds,
  });
  if (isRouterError(upstream)) {
    abort.done();
    const closed = upstream.kind === 'client_closed';
    // Only the endpoint's own failure counts against it: a request the router refused before sending it (a bad body,
    // no tokenizer yet for its model on a gRPC endpoint) says nothing about the endpoint.
    const fault = ENDPOINT_FAULTS.has(upstream.kind);
    closeLeg(deps, leg, { ok: !fault, verdict: fault ? false : undefined, error: upstream.message });
    if (!closed && !last && retry.isRetryableError(upstream)) return 'retry';
    if (!closed && retry.isRetryableError(upstream)) metrics.retriesExhausted.inc({ route: req.route });
    return refuse(deps, req, upstream);
  }
  // The client is looked for only every coarse tick while no answer has come: one gone already gets no answer.
  if (req.clientSignal.aborted) {
    await upstream.body?.cancel().catch(() => {});
    abort.done();
    closeLeg(deps, leg, { ok: true, verdict: undefined, error: 'client_closed' });
    return refuse(deps, req, routerError('client_closed', 'Client closed the connection'));
  }
  abort.answered();
  leg.span.setAttribute('http.response.status_code', upstream.status);
  if (retry.isRetryableStatus(upstream.status)) {
    if (!last) {
      // Drop this answer and try elsewhere. 408/429 are load, not faults.
      await upstream.body?.cancel().catch(() => {});
      abort.done();
      closeLeg(deps, leg, { ok: upstream.status < 500, verdict: upstream.status < 500, error: `retried after status ${upstream.status}` });
      deps.log.info('retrying on another endpoint', { request_id: req.requestId, endpoint: endpoint.id, status: upstream.status, attempt: attemptNo });
      return 'retry';
    }
    metrics.retriesExhausted.inc({ route: req.route });
  }
  return relayLeg(deps, leg, upstream, {
    route: req.route,
    upstreamPath: req.upstreamPath,
    requestId: req.requestId,
    startedAt: req.startedAt,
    queueMs: req.queueMs,
    headers: req.headers,
    model: req.model,
    servedBy: endpoint.id,
    expectDone: streamEndsWithDone(req.route, req.upstreamPath),
    abort,
    onSettled: req.onSettled,
  });
}

/** Ends a request the router answers itself. */
function refuse(deps: RegularRouterDeps, req: ProxyRequest, e: RouterError): Response {
  req.onSettled?.();
  return reject(deps, req.route, req.requestId, e);
}
