// Admission for every route that sends a request upstream: a slot of --max-concurrent-requests, waited for in
// the priority queue, held until the response body ends (see core/admission.ts).
import type { Admission, Permit } from '../core/admission.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { parsePriority } from '../signals/qoe-expectation.ts';
import type { Tracer } from '../tracing/tracer.ts';
import type { Span } from '../tracing/tracer.ts';
import { isRouterError, type RouterError } from '../wire/errors.ts';

export interface AdmitDeps {
  readonly admission: Admission;
  readonly metrics: Metrics;
  readonly tracer: Tracer;
  /** Monotonic milliseconds. */
  readonly now: () => number;
  /** Header whose 1 (high) … 3 (low) orders the admission queue. */
  readonly priorityHeader: string;
}

export interface Admitted {
  readonly permit: Permit;
  /** Time spent waiting for the slot, for the access log. */
  readonly queueMs: number;
}

/**
 * A slot taken at once when one is free and nobody waits (no promise, no clock read: the wait is 0), else
 * waited for (as its own span when traced); a refusal is counted, the caller answers it.
 */
export function admit(raw: Request, span: Span | undefined, deps: AdmitDeps): Admitted | RouterError | Promise<Admitted | RouterError> {
  if (span?.recording !== true && !raw.signal.aborted) {
    const permit = deps.admission.tryAcquire();
    if (permit !== undefined) {
      deps.metrics.queueWait.observe(0);
      return { permit, queueMs: 0 };
    }
  }
  return admitWaiting(raw, span, deps);
}

async function admitWaiting(raw: Request, span: Span | undefined, deps: AdmitDeps): Promise<Admitted | RouterError> {
  const admissionSpan = span?.recording ? deps.tracer.startSpan('admission', { parent: span.context }) : undefined;
  const queuedAt = deps.now();
  const permit = await deps.admission.acquire(raw.signal, parsePriority(raw.headers.get(deps.priorityHeader)));
  const queueMs = deps.now() - queuedAt;
  deps.metrics.queueWait.observe(queueMs / 1000);
  if (admissionSpan !== undefined) {
    admissionSpan.setAttribute('router.queue_ms', queueMs);
    if (isRouterError(permit)) admissionSpan.setStatus(permit.message);
    admissionSpan.end();
  }
  if (isRouterError(permit)) {
    deps.metrics.admissionRejections.inc({ reason: permit.kind });
    return permit;
  }
  return { permit, queueMs };
}

/**
 * What to do when the response body ends: give the slot back and close the server span. Built out here so
 * that the closure, which lives as long as a stream does, holds neither the body nor its JSON.
 */
export function settleOnce(permit: Permit, releaseSpan: (() => void) | undefined): () => void {
  return () => {
    permit.release();
    releaseSpan?.();
  };
}
