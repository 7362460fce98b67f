// The OpenAI-compatible generation routes: read the body once, check what the router reads, route it.
import type { Hono } from 'hono';
import { parseJsonObject, readBody, type BodyLimits } from '../body.ts';
import { allowLongRequest, pathAndQuery, type AppContext, type AppEnv } from '../context.ts';
import { isRouterError } from '../errors.ts';
import { validateFields } from '../validate.ts';
import { reject } from '../../routing/reject.ts';
import type { RegularRouter } from '../../routing/regular.ts';
import type { Logger } from '../../log/logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import type { Admission, Permit } from '../../core/admission.ts';
import type { Tracer } from '../../tracing/tracer.ts';
import { openAiBody } from '../../routing/openai-backend.ts';
import { parsePriority } from '../../policies/qoe/request-profile.ts';

export const INFERENCE_ROUTES = [
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/generate',
  '/v1/rerank',
  '/rerank',
  '/v1/responses',
] as const;

export interface InferenceDeps {
  readonly router: RegularRouter;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly admission: Admission;
  readonly now: () => number;
  /** --max-payload-size and the shared --max-inflight-body-bytes budget. */
  readonly bodyLimits: BodyLimits;
  readonly tracer: Tracer;
  /** --backend openai: refuse vLLM-only routes and strip vLLM-only fields before routing. */
  readonly openAiBackend?: boolean;
  /** Header whose 1 (high) … 3 (low) orders the admission queue. */
  readonly priorityHeader: string;
}

export function addInferenceRoutes(app: Hono<AppEnv>, deps: InferenceDeps): void {
  for (const route of INFERENCE_ROUTES) app.post(route, (c) => handle(c, route, deps));
}

async function handle(c: AppContext, route: string, deps: InferenceDeps): Promise<Response> {
  const requestId = c.get('requestId');
  const body = await readBody(c.req.raw, deps.bodyLimits);
  if (isRouterError(body)) return reject(deps, route, requestId, body);
  // The body's share of the budget comes back once the router has its answer under way (or refused): from
  // then on it is never sent again, so nothing holds it.
  try {
    return await routeBody(c, route, deps, body.bytes);
  } finally {
    body.lease.release();
  }
}

async function routeBody(c: AppContext, route: string, deps: InferenceDeps, bytes: Uint8Array): Promise<Response> {
  const requestId = c.get('requestId');
  const json = parseJsonObject(bytes);
  if (isRouterError(json)) return reject(deps, route, requestId, json);
  const invalid = validateFields(route, json);
  if (invalid) return reject(deps, route, requestId, invalid);
  const upstreamBytes = deps.openAiBackend ? openAiBody(route, json, bytes) : bytes;
  if (isRouterError(upstreamBytes)) return reject(deps, route, requestId, upstreamBytes);
  // Admission after validation: a malformed request never takes a slot or a place in the queue.
  // The slot is held until the response body ends, streams included (see core/admission.ts).
  const span = c.get('span');
  const admissionSpan = span?.recording ? deps.tracer.startSpan('admission', { parent: span.context }) : undefined;
  const queuedAt = deps.now();
  const permit = await deps.admission.acquire(c.req.raw.signal, parsePriority(c.req.raw.headers.get(deps.priorityHeader)));
  const queueMs = deps.now() - queuedAt;
  deps.metrics.queueWait.observe(queueMs / 1000);
  if (admissionSpan !== undefined) {
    admissionSpan.setAttribute('router.queue_ms', queueMs);
    if (isRouterError(permit)) admissionSpan.setStatus(permit.message);
    admissionSpan.end();
  }
  if (isRouterError(permit)) {
    deps.metrics.admissionRejections.inc({ reason: permit.kind });
    return reject(deps, route, requestId, permit);
  }
  allowLongRequest(c);
  return deps.router.route({
    queueMs,
    span,
    onSettled: settleOnce(permit, c.get('holdSpan')?.()),
    route,
    upstreamPath: pathAndQuery(c.req.raw.url),
    method: 'POST',
    headers: c.req.raw.headers,
    bytes: upstreamBytes,
    json,
    requestId,
    clientSignal: c.req.raw.signal,
    startedAt: c.get('startedAt'),
  });
}

/**
 * What to do when the response body ends: give the admission slot back and close the server span. Built out
 * here so that the closure, which lives as long as a stream does, holds neither the body nor its JSON.
 */
function settleOnce(permit: Permit, releaseSpan: (() => void) | undefined): () => void {
  return () => {
    permit.release();
    releaseSpan?.();
  };
}
