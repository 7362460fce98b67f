// Any other path: vLLM's own routes, forwarded by an allow-list (engine-paths.ts) to an endpoint picked by the
// policy, with the same limits and request id. Administrative routes need the admin key; unlisted paths are 404.
import type { Hono } from 'hono';
import type { Logger } from '../../log/logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import type { Router } from '../../routing/router.ts';
import { reject } from '../../wire/reject.ts';
import { readAnswer } from '../../routing/read-answer.ts';
import { admit, settleOnce, type AdmitDeps } from '../admit.ts';
import type { AdminCheck } from '../auth.ts';
import { readBody, type BodyLimits, type HeldBody } from '../body.ts';
import { allowLongRequest, pathAndQuery, type AppEnv } from '../context.ts';
import type { ForwardRules } from '../../wire/engine-paths.ts';
import { routerError, isRouterError } from '../../wire/errors.ts';
import { jsonDepthError } from '../../wire/json-depth.ts';
import { formRequestModel, jsonRequestModel } from '../request-model.ts';

export interface FallbackDeps extends AdmitDeps {
  readonly router: Router;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** --max-payload-size and the shared --max-inflight-body-bytes budget. */
  readonly bodyLimits: BodyLimits;
  /** What is forwarded: vLLM's inference and information routes, its admin routes, --forward-paths. */
  readonly rules: ForwardRules;
  /** The router's admin rule (auth.ts adminCheck), applied to the engines' administrative routes. */
  readonly adminCheck: AdminCheck;
  /** --static-aliases: alias → served model, rewritten in the body (JSON or multipart form) before it is routed. */
  readonly aliases?: ReadonlyMap<string, string>;
  /** An engine loaded or unloaded a LoRA adapter through the router: read what it serves before answering. */
  readonly modelsChanged?: (endpointId: string) => Promise<void>;
}

/** vLLM's routes that change what an engine serves (serve/lora). */
const LORA_UPDATES: ReadonlySet<string> = new Set(['/v1/load_lora_adapter', '/v1/unload_lora_adapter']);

const NO_ALIASES: ReadonlyMap<string, string> = new Map();

const ROUTE = 'fallback';
const SHOWN_PATH = 200;
/** An endpoint's "no such route" is a few bytes (FastAPI's `{"detail":"Not Found"}`); a longer one is not read to rewrite it. */
const REWRITE_MAX_BYTES = 64 * 1024;

export function addFallbackRoute(app: Hono<AppEnv>, deps: FallbackDeps): void {
  app.all('*', async (c) => {
    const requestId = c.get('requestId');
    const method = c.req.method;
    // The path as the request line spells it (never the decoded one): it is what the engine receives.
    const upstreamPath = pathAndQuery(c.req.raw.url);
    const query = upstreamPath.indexOf('?');
    const path = query === -1 ? upstreamPath : upstreamPath.slice(0, query);
    const kind = deps.rules.classify(path);
    if (kind === 'closed') {
      const shown = path.length > SHOWN_PATH ? `${path.slice(0, SHOWN_PATH)}…` : path;
      const message = `${method} ${shown} is not forwarded: the router passes on vLLM's inference and information routes only; an operator can allow a path with --forward-paths`;
      return reject(deps, ROUTE, requestId, routerError('not_found', message));
    }
    let headers = c.req.raw.headers;
    if (kind === 'admin') {
      const refused = deps.adminCheck(c);
      if (refused !== undefined) return refused;
      // The admin key is the router's secret: the endpoint gets the router's --api-key (if any) instead.
      if (headers.has('authorization')) {
        headers = new Headers(headers);
        headers.delete('authorization');
      }
    }
    let held: HeldBody | undefined;
    if (method !== 'GET' && method !== 'HEAD') {
      const read = await readBody(c.req.raw, deps.bodyLimits);
      if (isRouterError(read)) return reject(deps, ROUTE, requestId, read);
      held = read;
    }
    // The body's share of the budget comes back once the answer is under way (or refused), whatever happens.
    try {
      let bytes = held?.bytes ?? null;
      let json: Record<string, unknown> | undefined;
      let model: string | undefined;
      const contentType = c.req.header('content-type') ?? null;
      if (bytes !== null && bytes.byteLength > 0 && (contentType ?? '').includes('json')) {
        try {
          const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
          if (value !== null && typeof value === 'object' && !Array.isArray(value)) json = value as Record<string, unknown>;
        } catch {
          // Not ours to judge: the endpoint answers malformed bodies on its own routes.
        }
        // The router reads this body (routing text, PD hand-off), so it gets the same nesting bound as its own routes.
        const tooDeep = json === undefined ? undefined : jsonDepthError(json);
        if (tooDeep !== undefined) return reject(deps, ROUTE, requestId, tooDeep);
        // vLLM's routes that take a model take it by POST; another method gets the engine's own answer (405).
        if (json !== undefined && method === 'POST') ({ model, bytes } = jsonRequestModel(json, bytes, deps.aliases ?? NO_ALIASES));
      } else if (bytes !== null && bytes.byteLength > 0 && method === 'POST') {
        // Audio transcriptions and translations name their model in a form field.
        ({ model, bytes } = formRequestModel(contentType, bytes, deps.aliases ?? NO_ALIASES));
      }
      // Forwarded requests hold an admission slot too: --max-concurrent-requests bounds every upstream call
      // a client can open, the limit Bun's fetch concurrency is sized from (startup/capacity.ts).
      const admitted = await admit(c.req.raw, c.get('span'), deps);
      if (isRouterError(admitted)) return reject(deps, ROUTE, requestId, admitted);
      allowLongRequest(c.env?.server, c.req.raw);
      const onSettled = settleOnce(admitted.permit, c.get('holdSpan')?.());
      const res = await deps.router.route({ route: ROUTE, upstreamPath, method, headers, bytes, json, model, requestId, clientSignal: c.req.raw.signal, startedAt: c.get('startedAt'), span: c.get('span'), queueMs: admitted.queueMs, onSettled });
      if (res.ok && LORA_UPDATES.has(path)) await deps.modelsChanged?.(res.headers.get('x-served-by') ?? '');
      if (res.status !== 404 && res.status !== 405) return res;
      // An endpoint's own "no such route" (FastAPI's {"detail":...}) becomes the router's OpenAI-style answer.
      const body = await readAnswer(res, REWRITE_MAX_BYTES);
      if (!isRouterError(body) && new TextDecoder().decode(body).includes('"error"')) return new Response(body, { status: res.status, headers: res.headers });
      const notFound = res.status === 404 ? 'not_found' : 'method_not_allowed';
      return reject(deps, ROUTE, requestId, routerError(notFound, `Unknown route: ${method} ${c.req.path}`));
    } finally {
      held?.lease.release();
    }
  });
}
