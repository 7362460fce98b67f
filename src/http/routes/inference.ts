// The OpenAI-compatible generation routes: read the body once, check what the router reads, route it.
import type { Hono } from 'hono';
import { parseJsonObject, readBody, type BodyLimits } from '../body.ts';
import { allowLongRequest, pathAndQuery, scopeOf, type AppEnv, type RequestScope } from '../context.ts';
import { isRouterError, type RouterError } from '../../wire/errors.ts';
import { validateFields } from '../validate.ts';
import { reject } from '../../wire/reject.ts';
import type { Router } from '../../routing/router.ts';
import type { Logger } from '../../log/logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import { openAiBody } from '../../routing/openai-backend.ts';
import { admit, settleOnce, type AdmitDeps, type Admitted } from '../admit.ts';
import { jsonRequestModel } from '../request-model.ts';

const NO_ALIASES: ReadonlyMap<string, string> = new Map();

export const INFERENCE_ROUTES = [
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/generate',
  '/v1/rerank',
  '/rerank',
  '/v1/responses',
  // Anthropic's Messages API (vLLM serves it): routed like chat, the router's own errors in Anthropic's envelope.
  '/v1/messages',
] as const;

export interface InferenceDeps extends AdmitDeps {
  readonly router: Router;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** --max-payload-size and the shared --max-inflight-body-bytes budget. */
  readonly bodyLimits: BodyLimits;
  /** --backend openai: refuse vLLM-only routes and strip vLLM-only fields before routing. */
  readonly openAiBackend?: boolean;
  /** --static-aliases: alias → served model, rewritten in the body before it is routed. */
  readonly aliases?: ReadonlyMap<string, string>;
}

/** The routes by path, for the fast path in app.ts. */
export const INFERENCE_ROUTE_SET: ReadonlySet<string> = new Set(INFERENCE_ROUTES);

export function addInferenceRoutes(app: Hono<AppEnv>, deps: InferenceDeps): void {
  for (const route of INFERENCE_ROUTES) app.post(route, (c) => handleInference(scopeOf(c), route, deps));
}

/** One inference request: `route` is its path, one of INFERENCE_ROUTES. */
export async function handleInference(scope: RequestScope, route: string, deps: InferenceDeps): Promise<Response> {
  const body = await readBody(scope.raw, deps.bodyLimits);
  if (isRouterError(body)) return reject(deps, route, scope.requestId, body);
  // The body's share of the budget comes back once the router has its answer under way (or refused): from
  // then on it is never sent again, so nothing holds it.
  try {
    return await routeBody(scope, route, deps, body.bytes);
  } finally {
    body.lease.release();
  }
}

/** Not async: a request admitted at once goes to the router with no promise of this function's own in between. */
function routeBody(scope: RequestScope, route: string, deps: InferenceDeps, bytes: Uint8Array): Response | Promise<Response> {
  const { requestId, raw } = scope;
  const json = parseJsonObject(bytes);
  if (isRouterError(json)) return reject(deps, route, requestId, json);
  const invalid = validateFields(route, json);
  if (invalid) return reject(deps, route, requestId, invalid);
  const named = jsonRequestModel(json, bytes, deps.aliases ?? NO_ALIASES);
  const upstreamBytes = deps.openAiBackend ? openAiBody(route, json, named.bytes) : named.bytes;
  if (isRouterError(upstreamBytes)) return reject(deps, route, requestId, upstreamBytes);
  // Admission after validation: a malformed request never takes a slot or a place in the queue.
  const admission = admit(raw, scope.span, deps);
  const send = (admitted: Admitted | RouterError): Response | Promise<Response> => {
    if (isRouterError(admitted)) return reject(deps, route, requestId, admitted);
    allowLongRequest(scope.server, raw);
    return deps.router.route({
      queueMs: admitted.queueMs,
      span: scope.span,
      onSettled: settleOnce(admitted.permit, scope.holdSpan?.()),
      route,
      upstreamPath: pathAndQuery(raw.url),
      method: 'POST',
      headers: raw.headers,
      bytes: upstreamBytes,
      json,
      model: named.model,
      requestId,
      clientSignal: raw.signal,
      startedAt: scope.startedAt,
    });
  };
  return admission instanceof Promise ? admission.then(send) : send(admission);
}
