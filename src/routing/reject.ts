// Answers a request the router itself refuses or cannot serve: counted, logged, OpenAI envelope.
import { errorResponse, statusOf, type RouterError } from '../http/errors.ts';
import type { Logger } from '../log/logger.ts';
import { statusClass, type Metrics } from '../metrics/metrics.ts';

/** Counts a request the router refused, as an error and as an answer of its status class. */
export function countRefusal(metrics: Metrics, route: string, e: RouterError): void {
  metrics.requestErrors.inc({ route, error_type: e.kind });
  metrics.requests.inc({ route, status: statusClass(statusOf(e)) });
}

export function reject(deps: { metrics: Metrics; log: Logger }, route: string, requestId: string, e: RouterError, headers?: Record<string, string>): Response {
  const status = statusOf(e);
  countRefusal(deps.metrics, route, e);
  deps.log[status >= 500 ? 'warn' : 'info']('request refused', { request_id: requestId, route, status, error: e.kind, message: e.message });
  return errorResponse(e, requestId, headers);
}
