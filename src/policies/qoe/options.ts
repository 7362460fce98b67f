// Settings of the QoE policies (qoe_centric, disaggregated_qoe): targets, header names, tags, probing.
// Every field has a default here, so the configuration only passes what the user set.

export interface QoeHeaders {
  /** 1 high … 3 low; default 2. */
  readonly priority: string;
  /** The request's TTFT target in ms; default `targetTtftMs`. */
  readonly slaTarget: string;
  /** The request's time-per-output-token target in ms; default `targetItlMs`. */
  readonly slaTpot: string;
  /** The pace the client reads at, tokens per second, for streaming QoE; default `expectedTokensPerSecond`. */
  readonly expectedTokensPerSecond: string;
  /** Keys end-to-end tracking across the phases of one request. */
  readonly requestId: string;
}

export interface QoeOptions {
  readonly targetTtftMs: number;
  readonly targetItlMs: number;
  /** Decoding speed that is good enough, tokens per second per stream. */
  readonly optimalThroughput: number;
  /** Streaming QoE's expected delivery speed when the request names none; default `optimalThroughput`. */
  readonly expectedTokensPerSecond: number;
  readonly headers: QoeHeaders;
  /** Tags marking prefill-optimised and decode-optimised endpoints for disaggregated_qoe. */
  readonly prefillTags: readonly string[];
  readonly decodeTags: readonly string[];
  /** A router or engine latency measured longer ago than this (no request sent there since) no longer stands in for an unlearned speed. */
  readonly latencyMemoryMs: number;
  /** An endpoint that got no request for this long takes the next one, so its speed is measured again (issue #18: at most 10 s). */
  readonly probeIntervalMs: number;
}

/** What the configuration may set; everything else takes the default. */
export type QoeOptionsInput = Partial<Omit<QoeOptions, 'headers' | 'expectedTokensPerSecond'>> & {
  readonly headers?: Partial<QoeHeaders>;
  readonly expectedTokensPerSecond?: number;
};

export const DEFAULT_QOE_OPTIONS: Omit<QoeOptions, 'expectedTokensPerSecond'> = {
  targetTtftMs: 300,
  targetItlMs: 50,
  optimalThroughput: 30,
  headers: {
    priority: 'x-request-priority',
    slaTarget: 'x-sla-target-ms',
    slaTpot: 'x-sla-tpot-ms',
    expectedTokensPerSecond: 'x-expected-tokens-per-second',
    requestId: 'x-request-id',
  },
  prefillTags: ['prefill'],
  // The seeds tag decode endpoints "decoding"; the router's role is called "decode". Both are accepted.
  decodeTags: ['decode', 'decoding'],
  latencyMemoryMs: 30_000,
  probeIntervalMs: 5_000,
};

/** Defaults filled in and checked; throws on values no configuration should pass (a start-up error). */
export function resolveQoeOptions(input: QoeOptionsInput = {}): QoeOptions {
  const d = DEFAULT_QOE_OPTIONS;
  const o: QoeOptions = {
    targetTtftMs: input.targetTtftMs ?? d.targetTtftMs,
    targetItlMs: input.targetItlMs ?? d.targetItlMs,
    optimalThroughput: input.optimalThroughput ?? d.optimalThroughput,
    expectedTokensPerSecond: input.expectedTokensPerSecond ?? input.optimalThroughput ?? d.optimalThroughput,
    headers: { ...d.headers, ...definedOnly(input.headers) },
    prefillTags: (input.prefillTags ?? d.prefillTags).map((t) => t.toLowerCase()),
    decodeTags: (input.decodeTags ?? d.decodeTags).map((t) => t.toLowerCase()),
    latencyMemoryMs: input.latencyMemoryMs ?? d.latencyMemoryMs,
    probeIntervalMs: input.probeIntervalMs ?? d.probeIntervalMs,
  };
  const positive = ['targetTtftMs', 'targetItlMs', 'optimalThroughput', 'expectedTokensPerSecond', 'latencyMemoryMs', 'probeIntervalMs'] as const;
  for (const key of positive) if (!(o[key] > 0)) throw new RangeError(`qoe: ${key} must be positive, got ${o[key]}`);
  return o;
}

function definedOnly<T extends object>(patch: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(patch ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
