// One leg of a request at one endpoint, for every router: claimed (breaker ticket, in-flight count, span,
// stats), sent with the endpoint's headers, and accounted for once its answer ends (endpoint stats, metrics,
// breaker outcome, access log). The regular router runs one leg per attempt; PD runs a prefill and a decode leg.
import type { BreakerTicket } from '../core/circuit-breaker.ts';
import type { Endpoint } from '../core/endpoint.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { EndpointSeries } from '../metrics/request-series.ts';
import type { EndpointStats } from '../signals/endpoint-stats.ts';
import type { ExperienceFactory } from '../signals/experience.ts';
import { createStreamMeter } from '../signals/stream-meter.ts';
import { injectTraceContext } from '../tracing/traceparent.ts';
import { NOOP_SPAN, type Span, type Tracer } from '../tracing/tracer.ts';
import { envelopeOf } from '../wire/errors.ts';
import { upstreamHeaders } from '../wire/forward-headers.ts';
import { createCoarseTimer, type CoarseTimer } from './coarse-timer.ts';
import { isBrokenOutcome, relay, type StreamOutcome } from './relay.ts';

/** The router's shared timer, or one of the call's own when the deps bring none. */
export const legTimer = (deps: LegDeps): CoarseTimer => deps.timer ?? createCoarseTimer({ now: deps.now });

export interface LegDeps {
  readonly metrics: Metrics;
  readonly stats: EndpointStats;
  readonly log: Logger;
  /** Milliseconds on a monotonic clock. */
  readonly now: () => number;
  /** Sent as the bearer token to endpoints instead of the client's, when configured (--api-key). */
  readonly apiKey: string | undefined;
  /** Spans for each leg (default: none). */
  readonly tracer?: Tracer;
  /** Cut a relayed stream that sends nothing for this long (0 or unset: never). */
  readonly stallTimeoutMs?: number;
  /**
   * The one timer request deadlines and stall limits share, on the `now` clock (start-up builds one per
   * router; absent, as in some tests, each call makes its own).
   */
  readonly timer?: CoarseTimer;
  /** The user's experience of each answer (SLA, stream QoE, time by priority). */
  readonly experience?: ExperienceFactory;
  /** Bounded metric label for the client-supplied model name. */
  readonly modelLabel: (model: string | undefined) => string;
}

/** An endpoint holding one leg: its breaker ticket, and its in-flight count and span given back by `release`. */
export interface Leg {
  readonly endpoint: Endpoint;
  readonly ticket: BreakerTicket;
  /** `now()` when the leg was claimed. */
  readonly sentAt: number;
  /** The leg's client span (NOOP_SPAN when not traced); its context goes upstream as `traceparent`. */
  readonly span: Span;
  /** The endpoint's metric children. */
  readonly series: EndpointSeries;
  /** The answer is over: the endpoint's in-flight count back, the span ended with `error` as its status. Once. */
  release(error?: string): void;
}

/** Who claims a leg, for the decision metric and the span. */
export interface LegClaim {
  /** The policy that chose the endpoint. */
  readonly policy: string;
  /** The span's name (`upstream`, `prefill leg`…). */
  readonly spanName: string;
  /** The request's server span; no parent, no span. */
  readonly parent: Span | undefined;
  readonly attributes: Readonly<Record<string, string | number>>;
}

/**
 * Takes `endpoint` for one leg, or undefined when its breaker refuses (a half-open probe slot is taken).
 * `now`: the caller's reading of the clock just before, the leg's send time (read here when not given).
 */
export function claimLeg(deps: LegDeps, endpoint: Endpoint, claim: LegClaim, now?: number): Leg | undefined {
  const ticket = endpoint.breaker.acquire();
  if (ticket === undefined) return undefined;
  const { metrics } = deps;
  // No server span (tracing off, excluded path): no child either, and the client's own traceparent passes through.
  const span =
    deps.tracer?.enabled && claim.parent !== undefined
      ? deps.tracer.startSpan(claim.spanName, { parent: claim.parent.context, kind: 'client', attributes: { 'server.address': endpoint.id, ...claim.attributes } })
      : NOOP_SPAN;
  const series = metrics.series.endpoint(endpoint.id);
  endpoint.inFlight++;
  series.running.inc();
  series.processed.inc();
  metrics.series.decision(claim.policy, endpoint.id).inc();
  const sentAt = now ?? deps.now();
  deps.stats.started(endpoint.id, sentAt);
  let released = false;
  return {
    endpoint,
    ticket,
    sentAt,
    span,
    series,
    release(error) {
      if (released) return;
      released = true;
      endpoint.inFlight--;
      series.running.dec();
      if (error !== undefined) span.setStatus(error);
      span.end();
    },
  };
}

/** The breaker's verdict on a leg; `undefined` gives the ticket back without one (the request itself ended). */
export function judgeLeg(deps: LegDeps, leg: Leg, success: boolean | undefined): void {
  if (success === undefined) {
    leg.ticket.release();
    return;
  }
  leg.ticket.record(success);
  (success ? leg.series.breakerSuccess : leg.series.breakerFailure).inc();
}

/**
 * A leg that ends without its answer being relayed (a transport error, a status retried elsewhere, an answer
 * the router read whole): the endpoint back, its stats, the breaker's verdict.
 */
export function closeLeg(deps: LegDeps, leg: Leg, end: { readonly ok: boolean; readonly verdict: boolean | undefined; readonly error?: string }): void {
  leg.release(end.error);
  deps.stats.finished(leg.endpoint.id, { ok: end.ok, sawFirstByte: false, elapsedMs: deps.now() - leg.sentAt });
  judgeLeg(deps, leg, end.verdict);
}

export interface LegHeaderOptions {
  /** The router serialised the body itself (its content-type is JSON, and not compressed). */
  readonly rewritten?: boolean;
  /** The router reads this answer, so it must come uncompressed (fetch runs with decompress: false). */
  readonly plainBody?: boolean;
}

/** The client's headers minus hop-by-hop, `requestId` as X-Request-Id, the router's key, the DP rank, the leg's traceparent. */
export function legHeaders(deps: LegDeps, client: Headers, leg: Leg, requestId: string, options: LegHeaderOptions = {}): Headers {
  // Set on the copy directly: no object of extras to build and walk per request.
  const headers = upstreamHeaders(client, requestId);
  if (options.rewritten) {
    headers.set('content-type', 'application/json');
    headers.delete('content-encoding');
  }
  if (deps.apiKey !== undefined) headers.set('authorization', `Bearer ${deps.apiKey}`);
  if (leg.endpoint.dpRank !== undefined) headers.set('x-data-parallel-rank', String(leg.endpoint.dpRank));
  if (options.plainBody) headers.delete('accept-encoding');
  injectTraceContext(headers, leg.span.context);
  return headers;
}

/** The request's small fields the accounting needs: never the request itself, whose body a long stream must not keep alive. */
export interface AnswerContext {
  readonly route: string;
  readonly upstreamPath: string;
  readonly requestId: string;
  readonly startedAt: number;
  readonly queueMs?: number;
  /** The client's headers (the experience recorder reads the QoE ones). */
  readonly headers: Headers;
  /** The body's `model`, raw (labelled here). */
  readonly model: string | undefined;
  /** Sent as `x-served-by`. */
  readonly servedBy: string;
  /** Whether a 2xx SSE answer must end with `data: [DONE]` (sse-done.ts). */
  readonly expectDone: boolean;
  /** The request's deadline and client listener, disarmed when the answer ends (before `onSettled`). */
  readonly abort?: { done(): void };
  readonly onSettled?: () => void;
}

/** What a router adds to the shared accounting (PD's stage metrics). */
export interface AnswerHooks {
  onFirstByte?(now: number): void;
  onEnd?(outcome: StreamOutcome, status: number, totalMs: number): void;
}

/** Relays the leg's answer to the client unchanged and accounts for it once its body ends. */
export function relayLeg(deps: LegDeps, leg: Leg, upstream: Response, ctx: AnswerContext, hooks: AnswerHooks = {}): Promise<Response> {
  const { metrics } = deps;
  const { endpoint } = leg;
  const { route, startedAt } = ctx;
  const status = upstream.status;
  const isStream = (upstream.headers.get('content-type') ?? '').startsWith('text/event-stream');
  const model = deps.modelLabel(ctx.model);
  const series = metrics.series.model(endpoint.id, model);
  const itl = isStream ? series.itl : undefined;
  const meter = createStreamMeter(startedAt, itl && ((gap) => itl.observe(gap / 1000)));
  const experience = deps.experience?.(ctx.headers, startedAt, endpoint.id, isStream);
  let sawFirstByte = false;
  return relay(upstream, ctx.requestId, {
    servedBy: ctx.servedBy,
    stallTimeoutMs: deps.stallTimeoutMs,
    expectDone: ctx.expectDone,
    envelope: envelopeOf(route === 'fallback' ? pathOnly(ctx.upstreamPath) : route),
    timer: legTimer(deps),
    onChunk(chunk, now) {
      if (!sawFirstByte) {
        sawFirstByte = true;
        if (isStream) {
          series.ttft.observe((now - startedAt) / 1000);
          deps.stats.firstByte(endpoint.id, now - startedAt, now - leg.sentAt, meter);
        }
        hooks.onFirstByte?.(now);
      }
      meter.chunk(chunk, now);
      experience?.chunk(chunk, now);
    },
    onEnd(outcome: StreamOutcome, now?: number) {
      const failure = status >= 500 || isBrokenOutcome(outcome);
      leg.release(failure || outcome === 'client_closed' ? (outcome === 'complete' ? `status ${status}` : outcome) : undefined);
      const endedAt = now ?? deps.now();
      const summary = meter.finish(endedAt);
      experience?.finish(endedAt, !failure && outcome !== 'client_closed' && status < 400);
      judgeLeg(deps, leg, outcome === 'client_closed' ? undefined : !failure);
      deps.stats.finished(endpoint.id, { ok: !failure, sawFirstByte: sawFirstByte && isStream, itlMs: summary.meanItlMs, tokensPerSecond: summary.tokensPerSecond, stream: meter });
      const routeSeries = metrics.series.route(route);
      routeSeries.requests(status).inc();
      routeSeries.duration.observe(summary.totalMs / 1000);
      routeSeries.outcome(outcome).inc();
      series.e2e.observe(summary.totalMs / 1000);
      if (summary.usage) {
        series.promptTokens.inc(summary.usage.promptTokens);
        series.completionTokens.inc(summary.usage.completionTokens);
      }
      if (summary.tokensPerSecond !== undefined) series.tokensPerSecond.observe(summary.tokensPerSecond);
      if (deps.log.enabled('info'))
        deps.log.info('request', {
          request_id: ctx.requestId,
          route,
          model,
          endpoint: ctx.servedBy,
          status,
          outcome,
          queue_ms: round(ctx.queueMs),
          ttft_ms: isStream ? round(summary.ttftMs) : undefined,
          total_ms: round(summary.totalMs),
          prompt_tokens: summary.usage?.promptTokens,
          completion_tokens: summary.usage?.completionTokens,
        });
      hooks.onEnd?.(outcome, status, summary.totalMs);
      ctx.abort?.done();
      ctx.onSettled?.();
    },
  });
}

const pathOnly = (pathAndQuery: string) => {
  const q = pathAndQuery.indexOf('?');
  return q === -1 ? pathAndQuery : pathAndQuery.slice(0, q);
};

const round = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms * 10) / 10);
