// Answers a request the router itself refuses or cannot serve: counted, logged, in the OpenAI envelope (the
// Anthropic one on the Messages API route).
// The counters and the log are given as the little this needs, so the wire layer depends on nothing of ours.
import { envelopeOf, errorResponse, statusClass, statusOf, type RouterError } from './errors.ts';

interface Counter<L extends string> {
  inc(labels: Record<L, string>): void;
}

/** The two counters a refusal moves (metrics/metrics.ts defines them). */
export interface RefusalCounters {
  readonly requestErrors: Counter<'route' | 'error_type'>;
  readonly requests: Counter<'route' | 'status'>;
}

type Fields = Readonly<Record<string, string | number | boolean | null | undefined>>;

/** The log lines a refusal writes. */
export interface RefusalLog {
  info(msg: string, fields: Fields): void;
  warn(msg: string, fields: Fields): void;
}

/** Counts a request the router refused, as an error and as an answer of its status class. */
export function countRefusal(metrics: RefusalCounters, route: string, e: RouterError): void {
  metrics.requestErrors.inc({ route, error_type: e.kind });
  metrics.requests.inc({ route, status: statusClass(statusOf(e)) });
}

export function reject(deps: { metrics: RefusalCounters; log: RefusalLog }, route: string, requestId: string, e: RouterError, headers?: Record<string, string>): Response {
  const status = statusOf(e);
  countRefusal(deps.metrics, route, e);
  deps.log[status >= 500 ? 'warn' : 'info']('request refused', { request_id: requestId, route, status, error: e.kind, message: e.message });
  return errorResponse(e, requestId, headers, envelopeOf(route));
}
