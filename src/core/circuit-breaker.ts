// Per-endpoint circuit breaker: closed → open after failures, half-open after a timeout, closed after probes succeed.
//
// Rules (the Rust router's src/core/circuit_breaker.rs is the starting point):
// - Closed → open when the last `failureThreshold` outcomes were all failures AND the oldest of them is
//   younger than `windowMs`. A success resets the run, as in Rust, so a busy endpoint with sporadic errors
//   stays in. The window is what Rust lacks (its --cb-window-duration-secs is unused): a run of failures
//   spread thinly over a quiet period (one failure an hour on a rarely used endpoint) never adds up to an
//   opening, because failures older than the window no longer count.
// - Open → half-open lazily, when `allows()`, `acquire()` or `state` is consulted `timeoutMs` after opening.
// - Half-open admits at most `halfOpenMaxProbes` requests in flight (Rust admits everything, which lets a
//   recovering endpoint be flooded). `successThreshold` probe successes close it; any probe failure reopens
//   it and restarts the timeout.
// - What counts as a failure (5xx, transport errors, stalled streams; 4xx are successes) is the caller's call.
//
// Filtering and claiming are split: `allows()` is asked of every candidate while a policy chooses and must
// not take a probe slot; `acquire()` is called once for the chosen endpoint and returns a ticket that carries
// the outcome back. A ticket only speaks for the period it was issued in: a request admitted before the
// breaker opened that ends while it is half-open neither frees a probe slot nor decides the recovery (once
// the breaker is closed again, every outcome counts).
export type BreakerState = 'closed' | 'open' | 'half_open';

/** The admission of one request by a breaker. Only the first call of `record` or `release` counts. */
export interface BreakerTicket {
  /** The outcome of the request this ticket admitted. */
  record(success: boolean): void;
  /** The request was never sent (the client left, another endpoint was chosen): free its slot, no outcome. */
  release(): void;
}

export interface CircuitBreaker {
  /** Whether a request may be sent now, without claiming anything (may move open → half-open when the timeout has passed). */
  allows(): boolean;
  /** Claim the right to send one request now; in half-open this takes a probe slot. Undefined when refused. */
  acquire(): BreakerTicket | undefined;
  /** Record the outcome of a request sent without a ticket: counted in closed and half-open, ignored while open. */
  record(success: boolean): void;
  readonly state: BreakerState;
}

/** A breaker that never opens, for `--disable-circuit-breaker`. */
export function alwaysClosed(): CircuitBreaker {
  const ticket: BreakerTicket = { record: () => {}, release: () => {} };
  return { allows: () => true, acquire: () => ticket, record: () => {}, state: 'closed' };
}

export interface BreakerOptions {
  /** Failures in a row, all within `windowMs`, that open the breaker (--cb-failure-threshold). */
  readonly failureThreshold: number;
  /** Probe successes in half-open that close it (--cb-success-threshold). */
  readonly successThreshold: number;
  /** Time open before probes are let through (--cb-timeout-duration-secs). */
  readonly timeoutMs: number;
  /** Failures older than this do not count toward opening (--cb-window-duration-secs). */
  readonly windowMs: number;
  /** Probes in flight at once while half-open. */
  readonly halfOpenMaxProbes: number;
}

export interface BreakerDeps {
  /** Milliseconds on a monotonic clock. */
  readonly now: () => number;
  /** Called on every state change, after it took effect (metrics, logs). */
  readonly onTransition?: (from: BreakerState, to: BreakerState) => void;
}

export function createCircuitBreaker(options: BreakerOptions, deps: BreakerDeps): CircuitBreaker {
  for (const key of ['failureThreshold', 'successThreshold', 'halfOpenMaxProbes'] as const)
    if (!(options[key] >= 1)) throw new Error(`circuit breaker: ${key} must be at least 1, got ${options[key]}`);
  if (!(options.timeoutMs > 0) || !(options.windowMs > 0)) throw new Error('circuit breaker: timeoutMs and windowMs must be positive');

  let state: BreakerState = 'closed';
  let changedAt = deps.now();
  // Bumped on every transition, so a ticket can tell whether the period it was issued in is still current.
  let period = 0;
  // Closed: times of the failures since the last success, oldest first; never longer than the threshold.
  let failures: number[] = [];
  // Half-open: probe successes so far, and probes admitted whose outcome has not come back.
  let successes = 0;
  let probes = 0;

  const move = (to: BreakerState) => {
    const from = state;
    state = to;
    changedAt = deps.now();
    period++;
    failures = [];
    successes = 0;
    probes = 0;
    deps.onTransition?.(from, to);
  };

  const current = (): BreakerState => {
    if (state === 'open' && deps.now() - changedAt >= options.timeoutMs) move('half_open');
    return state;
  };

  /** Applies an outcome to the present state; `countsInHalfOpen` is false for outcomes that are not this half-open period's probes. */
  const apply = (success: boolean, countsInHalfOpen: boolean) => {
    if (state === 'closed') {
      if (success) {
        failures = [];
        return;
      }
      const now = deps.now();
      failures.push(now);
      while (failures.length > 0 && now - (failures[0] as number) >= options.windowMs) failures.shift();
      if (failures.length >= options.failureThreshold) move('open');
    } else if (state === 'half_open' && countsInHalfOpen) {
      if (!success) move('open');
      else if (++successes >= options.successThreshold) move('closed');
    }
    // Open: outcomes of requests admitted earlier change nothing; only the timeout leads out.
  };

  const ticket = (probeOf: number | undefined): BreakerTicket => {
    let done = false;
    const isLiveProbe = () => probeOf !== undefined && probeOf === period;
    return {
      record(success) {
        if (done) return;
        done = true;
        const live = isLiveProbe();
        if (live) probes--;
        apply(success, live);
      },
      release() {
        if (done) return;
        done = true;
        if (isLiveProbe()) probes--;
      },
    };
  };

  return {
    allows() {
      const s = current();
      return s === 'closed' || (s === 'half_open' && probes < options.halfOpenMaxProbes);
    },
    acquire() {
      const s = current();
      if (s === 'closed') return ticket(undefined);
      if (s === 'open' || probes >= options.halfOpenMaxProbes) return undefined;
      probes++;
      return ticket(period);
    },
    record: (success) => apply(success, true),
    get state() {
      return current();
    },
  };
}
