// POST /router/tokenize: what cache_aware and kv_aware see for a request body (token ids, block hashes, and how
// many leading blocks each engine's KV events say it holds), for operators.
// Only mounted with a tokenizer; named under /router/ so it never shadows vLLM's own /tokenize.
import type { Context, Hono } from 'hono';
import type { Logger } from '../../log/logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import type { TokenizerPool } from '../../pool/pool.ts';
import { jobFromBody } from '../../pool/protocol.ts';
import { reject } from '../../wire/reject.ts';
import { parseJsonObject, readBody, type BodyLimits } from '../body.ts';
import type { AppEnv } from '../context.ts';
import { isRouterError, routerError } from '../../wire/errors.ts';
import type { KvEventsReader } from '../../signals/kv-events/kv-events.ts';

export interface TokenizeRouteDeps {
  readonly pool: TokenizerPool;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** --max-payload-size and the shared --max-inflight-body-bytes budget. */
  readonly bodyLimits: BodyLimits;
  /** With kv_aware: the engines' KV events, and the endpoints to report on. */
  readonly kvEvents?: { readonly reader: KvEventsReader; readonly endpoints: () => readonly { readonly id: string }[] };
}

const ROUTE = '/router/tokenize';

export function addTokenizeRoute(app: Hono<AppEnv>, deps: TokenizeRouteDeps): void {
  app.post(ROUTE, async (c) => {
    const requestId = c.get('requestId');
    const held = await readBody(c.req.raw, deps.bodyLimits);
    if (isRouterError(held)) return reject(deps, ROUTE, requestId, held);
    try {
      return await tokenize(c, deps, held.bytes);
    } finally {
      held.lease.release();
    }
  });
}

async function tokenize(c: Context<AppEnv>, deps: TokenizeRouteDeps, bytes: Uint8Array): Promise<Response> {
  const requestId = c.get('requestId');
  const body = parseJsonObject(bytes);
  if (isRouterError(body)) return reject(deps, ROUTE, requestId, body);
  // The body is a chat or completions request; `route` says which (default: chat when it has messages).
  const route = Array.isArray(body.messages) ? '/v1/chat/completions' : '/v1/completions';
  const job = jobFromBody(route, body);
  if (job === undefined) return reject(deps, ROUTE, requestId, routerError('invalid_body', 'Expected a chat request (messages) or a completions request (prompt)'));
  const result = await deps.pool.tokenize(job, { returnIds: true, model: typeof body.model === 'string' ? body.model : undefined });
  if (!result.ok) return reject(deps, ROUTE, requestId, routerError('invalid_body', `Tokenization failed: ${result.error}`));
  const hashes = result.value.blockHashes;
  const answer = { count: result.value.tokenCount, tokens: Array.from(result.value.ids ?? []), block_hashes: Array.from(hashes) };
  if (deps.kvEvents === undefined) return c.json(answer);
  // Leading blocks each engine's events say it holds (GPU or CPU), as kv_aware counts them before its guess fills in.
  const cached: Record<string, number> = {};
  for (const { id } of deps.kvEvents.endpoints()) {
    const held = deps.kvEvents.reader.holdings(id);
    let n = 0;
    while (held !== undefined && n < hashes.length && ['gpu', 'cpu'].includes(held.stateOf(hashes[n] as number))) n++;
    cached[id] = n;
  }
  return c.json({ ...answer, kv_cached_blocks: cached });
}
