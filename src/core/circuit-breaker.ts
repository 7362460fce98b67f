// Per-endpoint circuit breaker: closed → open after failures, half-open after a timeout, closed after probes succeed.
export type BreakerState = 'closed' | 'open' | 'half_open';

export interface CircuitBreaker {
  /** Whether a request may be sent now (may move open → half-open when the timeout has passed). */
  allows(): boolean;
  /** Record the outcome of a request that was sent. */
  record(success: boolean): void;
  readonly state: BreakerState;
}

/** A breaker that never opens, for `--disable-circuit-breaker`. */
export function alwaysClosed(): CircuitBreaker {
  return { allows: () => true, record: () => {}, state: 'closed' };
}
