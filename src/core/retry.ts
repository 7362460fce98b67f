// Retry rules of the regular router: which answers are retried, how long to wait between attempts, where to go next.
//
// As in the Rust router (src/core/retry.rs): attempts are counted in total (--retry-max-retries 5 is one try and
// four retries), the statuses 408, 429, 500, 502, 503, 504 and transport errors are retried, and the wait
// before retry k (k from 0) is min(initial · multiplier^k, max) · (1 + U[−jitter, +jitter]), never negative.
// The caller must not retry once a byte of the response went to the client.
import type { RouterError } from '../wire/errors.ts';

export interface RetryOptions {
  /** Total attempts, the first included (--retry-max-retries; 1 when --disable-retries). */
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly multiplier: number;
  /** Fraction of the delay added or removed at random, 0–1. */
  readonly jitter: number;
}

export interface RetryPolicy {
  /** At least 1. */
  readonly maxAttempts: number;
  /** An endpoint answered with this status before any byte reached the client: try again elsewhere? */
  isRetryableStatus(status: number): boolean;
  /** The call to the endpoint failed without an answer: try again elsewhere? */
  isRetryableError(error: RouterError): boolean;
  /** Milliseconds to wait before retry `retryIndex` (0 for the wait after the first attempt). */
  backoffMs(retryIndex: number, random: () => number): number;
}

const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

// Rust retries transport errors because reqwest surfaces them as 500; a vanished client is never retried.
const RETRYABLE_ERRORS: ReadonlySet<RouterError['kind']> = new Set(['upstream_unreachable', 'upstream_timeout']);

export function retryPolicy(options: RetryOptions): RetryPolicy {
  const maxAttempts = Math.max(1, Math.floor(options.maxAttempts));
  return {
    maxAttempts,
    isRetryableStatus: (status) => RETRYABLE_STATUSES.has(status),
    isRetryableError: (error) => RETRYABLE_ERRORS.has(error.kind),
    backoffMs(retryIndex, random) {
      // multiplier^k overflows to Infinity for large k; min() turns that into the cap.
      const base = Math.min(options.initialBackoffMs * options.multiplier ** Math.max(0, retryIndex), options.maxBackoffMs);
      const spread = (2 * random() - 1) * options.jitter;
      return Math.max(0, base * (1 + spread));
    },
  };
}

/** Waits `ms`; resolves true when the time passed, false as soon as `signal` aborts (the client left). */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (!(ms > 0)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const finish = (slept: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(slept);
    };
    const onAbort = () => finish(false);
    const timer = setTimeout(() => finish(true), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The candidates for the next attempt: those this request has not failed on yet, or all of them when that
 * would leave none (a single endpoint is retried in place rather than not at all). Order is kept.
 */
export function untriedCandidates<E extends { readonly id: string }>(candidates: readonly E[], failed: ReadonlySet<string>): readonly E[] {
  if (failed.size === 0) return candidates;
  const fresh = candidates.filter((c) => !failed.has(c.id));
  return fresh.length > 0 ? fresh : candidates;
}
