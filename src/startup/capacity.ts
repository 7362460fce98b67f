// How many requests the router can really hold at once, from --max-concurrent-requests and the process's limits.
//
// Every admitted request holds one client connection and one upstream connection per leg (PD mode: two), so
// two limits bound what --max-concurrent-requests may promise:
// - Bun's fetch runs at most BUN_CONFIG_MAX_HTTP_REQUESTS calls at once per process (default 256, at most
//   65,535; read once at process start) and queues the rest inside Bun, where admission, metrics and policies
//   cannot see them (oven-sh/bun#12214). The router sets it from this plan (see fetch-limit.ts).
// - The open-file limit (RLIMIT_NOFILE): Bun raises the soft limit to the hard one at start-up, so the hard
//   limit is what counts (systemd: LimitNOFILE).
import type { ConfigError } from '../config/errors.ts';

/** Bun's ceiling for BUN_CONFIG_MAX_HTTP_REQUESTS. */
export const BUN_FETCH_LIMIT_MAX = 65535;

/**
 * Upstream calls outside admission: the /v1/models and Responses fan-outs, /health_generate, key validation,
 * the Kubernetes watch, the OTLP exporter, the Mooncake bootstrap. Health probes and engine-metrics reads do
 * not use fetch's slots.
 */
export const RESERVED_FETCHES = 512;

/** Descriptors that are not request connections: listeners, idle keep-alive sockets, logs, pool, ZMQ, probes. */
export const RESERVED_FILES = 1024;

export interface CapacityInput {
  /** --max-concurrent-requests. */
  readonly requested: number;
  /** Whether the operator set it (an impossible explicit value is an error; the default shrinks to fit). */
  readonly explicit: boolean;
  /** Upstream connections per request: 1, or 2 in PD mode. */
  readonly legs: 1 | 2;
  /** Files this process may open (RLIMIT_NOFILE), or undefined where it cannot be read. */
  readonly fileLimit: number | undefined;
}

export interface CapacityPlan {
  /** Requests admitted at once. */
  readonly capacity: number;
  /** BUN_CONFIG_MAX_HTTP_REQUESTS: room for every admitted leg plus the reserved calls. */
  readonly fetchLimit: number;
  /** Set when the default was lowered to fit: why, for the start-up log. */
  readonly lowered?: string;
}

export function planCapacity(input: CapacityInput): CapacityPlan | ConfigError {
  const { legs, fileLimit } = input;
  const byFetch = Math.floor((BUN_FETCH_LIMIT_MAX - RESERVED_FETCHES) / legs);
  const byFiles = fileLimit === undefined ? Number.POSITIVE_INFINITY : Math.floor((fileLimit - RESERVED_FILES) / (1 + legs));
  const most = Math.min(byFetch, byFiles);
  const why =
    byFiles <= byFetch
      ? `each request holds ${1 + legs} connections (client${legs === 2 ? ', prefill and decode' : ' and endpoint'}) and this process may open ${fileLimit} files (RLIMIT_NOFILE; raise LimitNOFILE or ulimit -n)`
      : `each request holds ${legs} upstream connection${legs === 2 ? 's' : ''} and Bun's fetch runs at most ${BUN_FETCH_LIMIT_MAX} at once`;
  if (most < 1) return { flag: '--max-concurrent-requests', value: String(input.requested), reason: `no request fits: ${why}` };
  if (input.requested <= most) return { capacity: input.requested, fetchLimit: fetchLimitFor(input.requested, legs) };
  if (input.explicit) return { flag: '--max-concurrent-requests', value: String(input.requested), reason: `the router can hold at most ${most} requests at once here: ${why}` };
  return { capacity: most, fetchLimit: fetchLimitFor(most, legs), lowered: `admitting at most ${most} requests at once instead of ${input.requested}: ${why}` };
}

/** The admission settings the plan allows. */
export interface AdmissionSettings {
  readonly max_concurrent_requests: number;
  readonly rate_limit_tokens_per_second?: number | undefined;
}

/**
 * `config` admitting `plan.capacity` at once. Only the concurrency shrinks: the refill rate stays what was
 * asked (by default the requested --max-concurrent-requests per second), or a lowered capacity would cap
 * throughput too (9,488 req/s on a machine with 20,000 open files, where the router serves ~18k).
 */
export function withCapacity<C extends AdmissionSettings>(config: C, plan: CapacityPlan): C {
  return { ...config, max_concurrent_requests: plan.capacity, rate_limit_tokens_per_second: config.rate_limit_tokens_per_second ?? config.max_concurrent_requests };
}

const fetchLimitFor = (capacity: number, legs: number) => Math.min(BUN_FETCH_LIMIT_MAX, capacity * legs + RESERVED_FETCHES);

/** The soft "Max open files" of /proc/self/limits (Linux); undefined elsewhere or when unlimited. */
export function parseFileLimit(limits: string): number | undefined {
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits);
  if (m === null || m[1] === 'unlimited') return undefined;
  return Number(m[1]);
}
