// Regular mode: pick an endpoint with the policy, send the request there, relay the answer, account for it.
// Failed attempts are retried on another endpoint while nothing has reached the client yet.
import type { BreakerTicket } from '../core/circuit-breaker.ts';
import type { Endpoint } from '../core/endpoint.ts';
import type { EndpointRegistry } from '../core/registry.ts';
import { sleep, untriedCandidates, type RetryPolicy } from '../core/retry.ts';
import { isRouterError, routerError, type RouterError, statusClass } from '../wire/errors.ts';
import { upstreamHeaders } from '../wire/forward-headers.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { Policy } from '../policies/types.ts';
import type { EndpointStats } from '../signals/endpoint-stats.ts';
import { createStreamMeter } from '../signals/stream-meter.ts';
import type { ExperienceFactory } from '../signals/experience.ts';
import { abortOnClientOrDeadline, type RequestAbort } from './deadline.ts';
import { callUpstream, isBrokenOutcome, relay, type StreamOutcome } from './proxy.ts';
import { streamEndsWithDone } from './sse-done.ts';
import { reject } from '../wire/reject.ts';
import { createRoutingRequest } from './routing-request.ts';
import { injectTraceContext } from '../tracing/traceparent.ts';
import { NOOP_SPAN, NOOP_TRACER, type Span, type Tracer } from '../tracing/tracer.ts';

export interface RegularRouterDeps {
  readonly registry: EndpointRegistry;
  readonly policy: Policy;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly stats: EndpointStats;
  readonly retry: RetryPolicy;
  /** Milliseconds on a monotonic clock. */
  readonly now: () => number;
  readonly random: () => number;
  readonly requestTimeoutMs: number;
  readonly stallTimeoutMs: number;
  /** Sent as the bearer token to endpoints instead of the client's, when configured (--api-key). */
  readonly apiKey: string | undefined;
  /** Bounded metric label for the client-supplied model name. */
  readonly modelLabel: (model: string | undefined) => string;
  /** Block hashes of the prompt, computed in the tokenizer pool (only when the policy asks for them). */
  readonly blockHashes?: (route: string, body: Readonly<Record<string, unknown>>) => Promise<Float64Array | undefined>;
  /** Spans for the routing decision and each upstream attempt (default: none). */
  readonly tracer?: Tracer;
  /** The user's experience of each answer (SLA, stream QoE, time by priority). */
  readonly experience?: ExperienceFactory;
}

/** One client request as the routing layer needs it: read once, routed once. */
export interface ProxyRequest {
  /** Metrics and policy label: the router path (`/v1/chat/completions`), or `fallback`. */
  readonly route: string;
  /** Path and query string sent to the endpoint. */
  readonly upstreamPath: string;
  readonly method: string;
  readonly headers: Headers;
  readonly bytes: Uint8Array | null;
  readonly json: Record<string, unknown> | undefined;
  readonly requestId: string;
  readonly clientSignal: AbortSignal;
  readonly startedAt: number;
  /** Time spent waiting for admission, for the access log. */
  readonly queueMs?: number;
  /** Called once when the request is over, body included (releases the admission slot). */
  readonly onSettled?: () => void;
  /** The request's server span: routing and upstream spans are its children. */
  readonly span?: Span;
}

export interface RegularRouter {
  route(req: ProxyRequest): Promise<Response>;
}

export function createRegularRouter(deps: RegularRouterDeps): RegularRouter {
  const { registry, policy, metrics, retry } = deps;
  const tracer = deps.tracer ?? NOOP_TRACER;

  const choose = (req: ProxyRequest, failed: ReadonlySet<string>, blockHashes: Float64Array | undefined): Endpoint | RouterError => {
    const available = registry.available('regular');
    if (available.length === 0) return routerError('no_available_endpoints', 'No available endpoints (all unhealthy, circuits open or none registered)');
    const candidates = untriedCandidates(available, failed);
    const request = createRoutingRequest(req.route, req.headers, req.json, req.bytes ?? new Uint8Array(0), blockHashes);
    const chosen = policy.select({ candidates, all: registry.all('regular'), request });
    if (chosen === undefined) return routerError('no_available_endpoints', `Policy ${policy.name} found no endpoint for this request`);
    return chosen;
  };

  /** The routing decision, as its own span: which policy chose what among how many. */
  const pick = (req: ProxyRequest, failed: ReadonlySet<string>, blockHashes: Float64Array | undefined, attemptNo: number): Endpoint | RouterError => {
    if (req.span === undefined || !req.span.recording) return choose(req, failed, blockHashes);
    const span = tracer.startSpan('route', { parent: req.span.context, attributes: { 'router.policy': policy.name, 'router.attempt': attemptNo, 'router.excluded_endpoints': failed.size } });
    const chosen = choose(req, failed, blockHashes);
    if (isRouterError(chosen)) span.setStatus(chosen.message);
    else span.setAttribute('router.endpoint', chosen.id);
    span.end();
    return chosen;
  };

  /** Sends one attempt to one endpoint; the caller decides what a failure means. */
  const attempt = async (req: ProxyRequest, endpoint: Endpoint) => {
    const extra: Record<string, string> = {};
    if (deps.apiKey !== undefined) extra.authorization = `Bearer ${deps.apiKey}`;
    if (endpoint.dpRank !== undefined) extra['x-data-parallel-rank'] = String(endpoint.dpRank);
    // --request-timeout-secs bounds the whole request: retries share what is left of it.
    const remaining = Math.max(0, req.startedAt + deps.requestTimeoutMs - deps.now());
    const abort = abortOnClientOrDeadline(req.clientSignal, remaining);
    endpoint.inFlight++;
    metrics.running.labels(endpoint.id).inc();
    metrics.processed.labels(endpoint.id).inc();
    deps.stats.started(endpoint.id, deps.now());
    const headers = upstreamHeaders(req.headers, req.requestId, extra);
    const span = upstreamSpan(req, endpoint);
    injectTraceContext(headers, span.context);
    const upstream = await callUpstream({
      url: endpoint.url + req.upstreamPath,
      method: req.method,
      headers,
      body: req.bytes,
      signal: abort.signal,
      timedOut: () => abort.timedOut,
    });
    if (isRouterError(upstream)) span.setStatus(upstream.message);
    else span.setAttribute('http.response.status_code', upstream.status);
    return { upstream, release: attemptRelease(abort, endpoint, span) };
  };

  /**
   * Once the answer is over (body relayed, dropped for a retry, or failed). Made outside `attempt`: a closure
   * made inside an async function keeps its parameters alive (`req`, with the body and its JSON) for as
   * long as the closure lives, and this one lives as long as the answer's stream.
   */
  const attemptRelease = (abort: RequestAbort, endpoint: Endpoint, span: Span) => (error?: string) => {
    abort.done();
    endpoint.inFlight--;
    metrics.running.labels(endpoint.id).dec();
    if (error !== undefined) span.setStatus(error);
    span.end();
  };

  /** A client span per attempt; its context goes upstream as `traceparent` so the engine's spans join the trace. */
  const upstreamSpan = (req: ProxyRequest, endpoint: Endpoint): Span => {
    // No server span (tracing off, excluded path): no child either (a child of NOOP_SPAN is NOOP_SPAN), and
    // the client's own traceparent passes through untouched.
    if (!tracer.enabled || req.span === undefined) return NOOP_SPAN;
    return tracer.startSpan('upstream', {
      parent: req.span.context,
      kind: 'client',
      attributes: { 'http.request.method': req.method, 'server.address': endpoint.id, 'url.path': req.route, request_id: req.requestId },
    });
  };

  const record = (endpoint: Endpoint, ticket: BreakerTicket, success: boolean) => {
    ticket.record(success);
    metrics.cbOutcomes.labels(endpoint.id, success ? 'success' : 'failure').inc();
  };

  const settle = (req: ProxyRequest, response: Response) => {
    req.onSettled?.();
    return response;
  };

  return {
    async route(req) {
      const failed = new Set<string>();
      // Tokenizing happens once, in the pool, before the first pick; retries reuse the hashes.
      const blockHashes = policy.wantsBlockHashes && deps.blockHashes && req.json ? await deps.blockHashes(req.route, req.json) : undefined;
      for (let n = 0; ; n++) {
        if (n > 0) {
          const wait = retry.backoffMs(n - 1, deps.random);
          metrics.retries.inc({ route: req.route });
          metrics.retryBackoff.observe({ attempt: String(n) }, wait / 1000);
          if (!(await sleep(wait, req.clientSignal))) return settle(req, reject(deps, req.route, req.requestId, routerError('client_closed', 'Client closed the connection')));
        }
        if (deps.now() - req.startedAt >= deps.requestTimeoutMs)
          return settle(req, reject(deps, req.route, req.requestId, routerError('upstream_timeout', `No answer within --request-timeout-secs (${deps.requestTimeoutMs / 1000} s)`)));
        const last = n + 1 >= retry.maxAttempts;
        const endpoint = pick(req, failed, blockHashes, n + 1);
        if (isRouterError(endpoint)) return settle(req, reject(deps, req.route, req.requestId, endpoint));
        const ticket = endpoint.breaker.acquire();
        if (ticket === undefined) {
          // Lost the last half-open probe slot to a concurrent request: try another endpoint, without backoff.
          failed.add(endpoint.id);
          if (last) return settle(req, reject(deps, req.route, req.requestId, routerError('no_available_endpoints', 'No endpoint could take the request (circuits open)')));
          continue;
        }
        metrics.policyDecisions.labels(policy.name, endpoint.id).inc();

        const { upstream, release } = await attempt(req, endpoint);
        if (isRouterError(upstream)) {
          release();
          deps.stats.finished(endpoint.id, { ok: upstream.kind === 'client_closed', sawFirstByte: false });
          if (upstream.kind === 'client_closed') {
            ticket.release();
            return settle(req, reject(deps, req.route, req.requestId, upstream));
          }
          record(endpoint, ticket, false);
          failed.add(endpoint.id);
          if (!last && retry.isRetryableError(upstream)) continue;
          if (retry.isRetryableError(upstream)) metrics.retriesExhausted.inc({ route: req.route });
          return settle(req, reject(deps, req.route, req.requestId, upstream));
        }
        if (retry.isRetryableStatus(upstream.status)) {
          if (!last) {
            // Nothing has reached the client: drop this answer and try elsewhere. 408/429 are load, not faults.
            record(endpoint, ticket, upstream.status < 500);
            await upstream.body?.cancel().catch(() => {});
            release(`retried after status ${upstream.status}`);
            deps.stats.finished(endpoint.id, { ok: upstream.status < 500, sawFirstByte: false });
            failed.add(endpoint.id);
            deps.log.info('retrying on another endpoint', { request_id: req.requestId, endpoint: endpoint.id, status: upstream.status, attempt: n + 1 });
            continue;
          }
          metrics.retriesExhausted.inc({ route: req.route });
        }
        return relayAnswer(req, endpoint, ticket, upstream, release);
      }
    },
  };

  /**
   * Relays the answer and accounts for it when its body ends. The hooks see only the request's small fields,
   * never `req` itself: a long stream must not keep the request's body and parsed JSON alive.
   */
  function relayAnswer(req: ProxyRequest, endpoint: Endpoint, ticket: BreakerTicket, upstream: Response, release: (error?: string) => void): Promise<Response> {
    const { route, requestId, startedAt, queueMs, onSettled } = req;
    const status = upstream.status;
    const isStream = (upstream.headers.get('content-type') ?? '').startsWith('text/event-stream');
    const model = deps.modelLabel(typeof req.json?.model === 'string' ? req.json.model : undefined);
    const itl = isStream ? metrics.itl.labels(endpoint.id, model) : undefined;
    const meter = createStreamMeter(startedAt, itl && ((gap) => itl.observe(gap / 1000)));
    const experience = deps.experience?.(req.headers, startedAt, endpoint.id, isStream);
    let sawFirstByte = false;
    return relay(upstream, requestId, {
      servedBy: endpoint.id,
      stallTimeoutMs: deps.stallTimeoutMs,
      expectDone: streamEndsWithDone(route, req.upstreamPath),
      onChunk(chunk) {
        const now = deps.now();
        if (!sawFirstByte) {
          sawFirstByte = true;
          if (isStream) {
            metrics.ttft.labels(endpoint.id, model).observe((now - startedAt) / 1000);
            deps.stats.firstByte(endpoint.id, now - startedAt);
          }
        }
        meter.chunk(chunk, now);
        experience?.chunk(chunk, now);
      },
      onEnd(outcome: StreamOutcome) {
        const failure = status >= 500 || isBrokenOutcome(outcome);
        release(failure || outcome === 'client_closed' ? (outcome === 'complete' ? `status ${status}` : outcome) : undefined);
        const summary = meter.finish(deps.now());
        experience?.finish(deps.now(), !failure && outcome !== 'client_closed' && status < 400);
        if (outcome === 'client_closed') ticket.release();
        else record(endpoint, ticket, !failure);
        deps.stats.finished(endpoint.id, { ok: !failure, sawFirstByte: sawFirstByte && isStream, itlMs: summary.meanItlMs, tokensPerSecond: summary.tokensPerSecond });
        metrics.requests.labels(route, statusClass(status)).inc();
        metrics.requestDuration.labels(route).observe(summary.totalMs / 1000);
        metrics.streamOutcomes.labels(route, outcome).inc();
        metrics.e2e.labels(endpoint.id, model).observe(summary.totalMs / 1000);
        if (summary.usage) {
          metrics.promptTokens.labels(endpoint.id, model).inc(summary.usage.promptTokens);
          metrics.completionTokens.labels(endpoint.id, model).inc(summary.usage.completionTokens);
        }
        if (summary.tokensPerSecond !== undefined) metrics.tokensPerSecond.labels(endpoint.id, model).observe(summary.tokensPerSecond);
        if (deps.log.enabled('info'))
          deps.log.info('request', {
            request_id: requestId,
            route,
            model,
            endpoint: endpoint.id,
            status,
            outcome,
            queue_ms: round(queueMs),
            ttft_ms: isStream ? round(summary.ttftMs) : undefined,
            total_ms: round(summary.totalMs),
            prompt_tokens: summary.usage?.promptTokens,
            completion_tokens: summary.usage?.completionTokens,
          });
        onSettled?.();
      },
    });
  }
}

const round = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms * 10) / 10);
