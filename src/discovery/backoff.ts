// Retry delays for discovery: exponential with a cap and jitter, and a pause that dispose can cut short.

export interface BackoffOptions {
  /** Delay after the first failure; doubles with each further one. Default 1 s, as in the Rust router. */
  readonly initialMs?: number;
  /** Longest delay. Default 60 s: the Rust router's 300 s left a fleet stale for minutes after an API blip. */
  readonly maxMs?: number;
  /** Spreads retries of many routers by ±20 %; injectable for deterministic tests. */
  readonly random?: () => number;
}

/** The delay before retry number `attempt` (1 for the first); 0 for attempt 0. */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  if (attempt <= 0) return 0;
  const initial = options.initialMs ?? 1_000;
  const max = options.maxMs ?? 60_000;
  const base = Math.min(max, initial * 2 ** Math.min(attempt - 1, 30));
  return Math.round(Math.min(max, base * (0.8 + 0.4 * (options.random ?? Math.random)())));
}

/** Resolves after `ms`, or at once when the signal aborts (dispose must not wait out a back-off). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
