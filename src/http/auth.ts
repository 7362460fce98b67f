// Who may do what: the admin key (or loopback) for endpoint management, client API keys for everything else.
//
// The two are separate on purpose: a client key never opens the admin API, and the admin key is not a
// client key. The router's own --api-key (sent to endpoints) is a third, unrelated secret.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../log/logger.ts';
import type { ApiKeyValidator } from './api-key-validator.ts';
import { tokenDigest } from './api-key-validator.ts';
import type { AppContext, AppEnv } from './context.ts';
import { envelopeOf, errorResponse, routerError, type RouterError } from '../wire/errors.ts';

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 9110 §11.1). */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (header == null) return undefined;
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Equal strings, in time that depends on neither content nor length (both sides are hashed first). */
export function constantTimeEqual(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** 127.0.0.0/8, ::1 and IPv4-mapped 127.x addresses (what a dual-stack listener reports for IPv4 loopback). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)) return true;
  return address === '::1' || address === '0:0:0:0:0:0:0:1';
}

/** The peer address Bun reports for the request; the app is served as `app.fetch(req, { server })`. */
export function bunPeerAddress(c: AppContext): string | undefined {
  return c.env?.server?.requestIP(c.req.raw)?.address;
}

/** Keys from a key file or variable: one per line (or comma-separated), blank lines and `#` comments skipped. */
export function parseKeyList(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** Counts a refusal (the app passes its metrics here), so no refused request goes unseen. */
export type RefusalCounter = (path: string, e: RouterError) => void;

const refuse = (c: AppContext, count: RefusalCounter | undefined, e: RouterError, headers?: Record<string, string>) => {
  count?.(c.req.path, e);
  return errorResponse(e, c.get('requestId') ?? '', headers, envelopeOf(c.req.path));
};
const CHALLENGE = { 'www-authenticate': 'Bearer' };

export interface AdminAuthOptions {
  /** --admin-api-key; without it the admin API answers loopback peers only. */
  readonly adminApiKey: string | undefined;
  readonly log: Logger;
  /** The client's address (default: Bun's `server.requestIP`). */
  readonly peerAddress?: (c: AppContext) => string | undefined;
  readonly count?: RefusalCounter;
}

/** Undefined when the caller may go on, else the refusal to answer with (already counted and logged). */
export type AdminCheck = (c: AppContext) => Response | undefined;

/**
 * The admin rule: with a key, `Authorization: Bearer <key>` or 401; without one, loopback peers only, else 403.
 * The loopback rule trusts the socket, never X-Forwarded-For; behind a proxy on the same host every client
 * looks local, so such deployments must set --admin-api-key. The router's admin routes and the engines'
 * administrative routes (forwarded by the catch-all) share it.
 */
export function adminCheck(options: AdminAuthOptions): AdminCheck {
  const peerAddress = options.peerAddress ?? bunPeerAddress;
  const key = options.adminApiKey;
  return (c) => {
    if (key !== undefined) {
      const token = bearerToken(c.req.header('authorization'));
      if (token !== undefined && constantTimeEqual(token, key)) return undefined;
      options.log.info('admin request refused', { path: c.req.path, reason: token === undefined ? 'no bearer token' : 'wrong key', request_id: c.get('requestId') });
      const message = token === undefined ? 'The admin API needs Authorization: Bearer <admin key>' : 'The admin key is not valid';
      return refuse(c, options.count, routerError('unauthorized', message), CHALLENGE);
    }
    const peer = peerAddress(c);
    if (isLoopback(peer)) return undefined;
    options.log.info('admin request refused', { path: c.req.path, reason: 'not loopback', peer: peer ?? 'unknown', request_id: c.get('requestId') });
    return refuse(c, options.count, routerError('unauthorized', 'The admin API answers only on loopback when no --admin-api-key is configured', { status: 403 }));
  };
}

/** The admin rule as middleware, run before every admin route. */
export function adminAuth(options: AdminAuthOptions): MiddlewareHandler<AppEnv> {
  const check = adminCheck(options);
  return async (c, next) => {
    const refused = check(c);
    if (refused !== undefined) return refused;
    await next();
  };
}

export interface InferenceAuthOptions {
  /** Keys accepted as they are (--api-key-file or its variable), for deployments without a key service. */
  readonly staticKeys: readonly string[];
  /** The --api-key-validation-urls checker, when configured. */
  readonly validator: ApiKeyValidator | undefined;
  /** Paths this check skips: probes, and the admin routes (they have their own). */
  readonly isExempt: (path: string) => boolean;
  readonly log: Logger;
  /** Sent as Retry-After when the validators could not decide. */
  readonly retryAfterSecs?: number;
  readonly count?: RefusalCounter;
}

/** Client routes: a static key or a validator's yes, else 401; 503 when the validators cannot be asked. */
/** The client-key check, or undefined when no keys are configured (then there is nothing to mount). */
export function inferenceAuth(options: InferenceAuthOptions): MiddlewareHandler<AppEnv> | undefined {
  const { validator } = options;
  if (options.staticKeys.length === 0 && validator === undefined) return undefined;
  // Digests in a set: the lookup time reveals nothing useful about the keys (an attacker cannot steer a hash).
  const staticDigests = new Set(options.staticKeys.map(tokenDigest));
  return async (c, next) => {
    if (options.isExempt(c.req.path)) return next();
    const token = bearerToken(c.req.header('authorization'));
    if (token === undefined) return refuse(c, options.count, routerError('unauthorized', 'You must provide an API key as Authorization: Bearer <key>'), CHALLENGE);
    if (staticDigests.has(tokenDigest(token))) return next();
    const verdict = validator === undefined ? 'invalid' : await validator.check(token);
    if (verdict === 'valid') return next();
    if (verdict === 'unreachable') {
      options.log.warn('api key could not be validated', { path: c.req.path, request_id: c.get('requestId') });
      return refuse(c, options.count, routerError('upstream_unreachable', 'The API key could not be validated now; retry later', { status: 503, retryAfterSecs: options.retryAfterSecs ?? 1 }));
    }
    options.log.info('request refused: invalid api key', { path: c.req.path, request_id: c.get('requestId') });
    return refuse(c, options.count, routerError('unauthorized', 'The API key is not valid'), CHALLENGE);
  };
}

/** Paths answered without a client key: liveness and readiness probes from load balancers and Kubernetes. */
export const PROBE_PATHS: ReadonlySet<string> = new Set(['/liveness', '/readiness', '/health']);
