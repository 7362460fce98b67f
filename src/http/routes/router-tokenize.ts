// POST /router/tokenize: what cache_aware sees for a request body (token ids and block hashes), for operators.
// Only mounted with a tokenizer; named under /router/ so it never shadows vLLM's own /tokenize.
import type { Hono } from 'hono';
import type { Logger } from '../../log/logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import type { TokenizerPool } from '../../pool/pool.ts';
import { jobFromBody } from '../../pool/protocol.ts';
import { reject } from '../../routing/reject.ts';
import { parseJsonObject, readBytes } from '../body.ts';
import type { AppEnv } from '../context.ts';
import { isRouterError, routerError } from '../errors.ts';

export interface TokenizeRouteDeps {
  readonly pool: TokenizerPool;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly maxPayloadSize: number;
}

const ROUTE = '/router/tokenize';

export function addTokenizeRoute(app: Hono<AppEnv>, deps: TokenizeRouteDeps): void {
  app.post(ROUTE, async (c) => {
    const requestId = c.get('requestId');
    const bytes = await readBytes(c.req.raw, deps.maxPayloadSize);
    if (isRouterError(bytes)) return reject(deps, ROUTE, requestId, bytes);
    const body = parseJsonObject(bytes);
    if (isRouterError(body)) return reject(deps, ROUTE, requestId, body);
    // The body is a chat or completions request; `route` says which (default: chat when it has messages).
    const route = Array.isArray(body.messages) ? '/v1/chat/completions' : '/v1/completions';
    const job = jobFromBody(route, body);
    if (job === undefined) return reject(deps, ROUTE, requestId, routerError('invalid_body', 'Expected a chat request (messages) or a completions request (prompt)'));
    const result = await deps.pool.tokenize(job, { returnIds: true });
    if (!result.ok) return reject(deps, ROUTE, requestId, routerError('invalid_body', `Tokenization failed: ${result.error}`));
    return c.json({ count: result.value.tokenCount, tokens: Array.from(result.value.ids ?? []), block_hashes: Array.from(result.value.blockHashes) });
  });
}
