// POST /router/tokenize: what cache_aware sees for a request body (token ids and block hashes), for operators.
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

export interface TokenizeRouteDeps {
  readonly pool: TokenizerPool;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** --max-payload-size and the shared --max-inflight-body-bytes budget. */
  readonly bodyLimits: BodyLimits;
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
  const result = await deps.pool.tokenize(job, { returnIds: true });
  if (!result.ok) return reject(deps, ROUTE, requestId, routerError('invalid_body', `Tokenization failed: ${result.error}`));
  return c.json({ count: result.value.tokenCount, tokens: Array.from(result.value.ids ?? []), block_hashes: Array.from(result.value.blockHashes) });
}
