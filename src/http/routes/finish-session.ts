// POST /finish_session: a client ends a session, so sticky_least_loaded stops counting it against its endpoint.
import type { Hono } from 'hono';
import type { Logger } from '../../log/logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import { isRouterError, routerError } from '../../wire/errors.ts';
import { reject } from '../../wire/reject.ts';
import { parseJsonObject, readBytes } from '../body.ts';
import type { AppEnv } from '../context.ts';

/** Whatever holds sessions: every policy slot of the router (startup/policies.ts). */
export interface SessionRelease {
  finishSession(sessionId: string): boolean;
}

export interface FinishSessionDeps {
  readonly sessions: SessionRelease;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** --session-header, also accepted here besides x-session-id. */
  readonly sessionHeader: string | undefined;
}

const MAX_BODY = 64 * 1024;
const ROUTE = '/finish_session';

/**
 * The id comes from `?session_id=` (the Rust router's PR #235 form), a JSON body's `session_id` (or
 * `session_params.session_id`), or the session header. Idempotent: an unknown or already finished session
 * answers 200 with `released: false`, so clients may call it unconditionally (prime-rl does), whatever the policy.
 * It sits behind the client keys like the inference routes: a client that may route may end its sessions.
 */
export function addFinishSessionRoute(app: Hono<AppEnv>, deps: FinishSessionDeps): void {
  app.post(ROUTE, async (c) => {
    const requestId = c.get('requestId');
    let id = c.req.query('session_id') || undefined;
    if (id === undefined) {
      const bytes = await readBytes(c.req.raw, MAX_BODY);
      if (isRouterError(bytes)) return reject(deps, ROUTE, requestId, bytes);
      if (bytes.length > 0) {
        const body = parseJsonObject(bytes);
        if (isRouterError(body)) return reject(deps, ROUTE, requestId, body);
        id = idOf(body['session_id']) ?? idOf((body['session_params'] as Record<string, unknown> | undefined)?.['session_id']);
      }
    }
    if (id === undefined) {
      const header = (deps.sessionHeader && c.req.header(deps.sessionHeader)) || c.req.header('x-session-id');
      id = header || undefined;
    }
    if (id === undefined)
      return reject(deps, ROUTE, requestId, routerError('invalid_body', 'Name the session: ?session_id=ID, a JSON body {"session_id": "ID"}, or the x-session-id header', { param: 'session_id' }));
    const released = deps.sessions.finishSession(id);
    deps.metrics.requests.inc({ route: ROUTE, status: '2xx' });
    deps.log.debug('session finished', { request_id: requestId, session_id: id, released });
    return c.json({ session_id: id, released });
  });
}

function idOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}
