// Settings of the QoE policies (qoe_centric, disaggregated_qoe): targets, header names, tags, weights.
// Every field has a default here, so the configuration only passes what the user set.

/** The four weights of the cost α·resource + β·performance + γ·reliability + δ·priority; they sum to 1. */
export interface QoeWeights {
  /** α */
  readonly resource: number;
  /** β */
  readonly performance: number;
  /** γ */
  readonly reliability: number;
  /** δ */
  readonly priority: number;
}

export interface QoeHeaders {
  /** 1 high … 3 low; default 2. */
  readonly priority: string;
  readonly expectedOutputTokens: string;
  /** The request's TTFT target in ms; default `targetTtftMs`. */
  readonly slaTarget: string;
  /** The pace the client reads at, tokens per second, for streaming QoE; default `expectedTokensPerSecond`. */
  readonly expectedTokensPerSecond: string;
  /** Keys end-to-end tracking across the phases of one request. */
  readonly requestId: string;
}

export interface AdaptOptions {
  /** Weights change at most once per interval, from the mean load seen during it. */
  readonly intervalMs: number;
  /** Every weight stays within [min, max]; needs 4·min ≤ 1 ≤ 4·max. */
  readonly min: number;
  readonly max: number;
  /** Mean requests in prefill per endpoint above which performance (TTFT) gains weight (seeds: 5). */
  readonly prefillPressure: number;
  /** Mean requests decoding per endpoint above which resource gains weight (seeds: 10). */
  readonly decodePressure: number;
  /** How far each weight moves back toward its initial value in a calm interval. */
  readonly relaxStep: number;
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
  readonly weights: QoeWeights;
  readonly adapt: AdaptOptions;
  /** Added to the cost of an endpoint whose expected TTFT misses the request's target (half of it at least). */
  readonly slaMissPenalty: number;
  /** An expected output above this many tokens makes decode speed matter more than TTFT. */
  readonly longOutputTokens: number;
  /** A latency measured longer ago than this (no request reached the endpoint since) is forgotten, so the endpoint is tried again. */
  readonly latencyMemoryMs: number;
}

/** What the configuration may set; everything else takes the default. */
export type QoeOptionsInput = Partial<Omit<QoeOptions, 'headers' | 'weights' | 'adapt' | 'expectedTokensPerSecond'>> & {
  readonly headers?: Partial<QoeHeaders>;
  readonly weights?: Partial<QoeWeights>;
  readonly adapt?: Partial<AdaptOptions>;
  readonly expectedTokensPerSecond?: number;
};

/** The starting weights of production-stack PR #349: α=0.3, β=0.4, γ=0.2, δ=0.1. */
export const DEFAULT_WEIGHTS: QoeWeights = { resource: 0.3, performance: 0.4, reliability: 0.2, priority: 0.1 };

export const DEFAULT_QOE_OPTIONS: Omit<QoeOptions, 'expectedTokensPerSecond'> = {
  targetTtftMs: 300,
  targetItlMs: 50,
  optimalThroughput: 30,
  headers: {
    priority: 'x-request-priority',
    expectedOutputTokens: 'x-expected-output-tokens',
    slaTarget: 'x-sla-target-ms',
    expectedTokensPerSecond: 'x-expected-tokens-per-second',
    requestId: 'x-request-id',
  },
  prefillTags: ['prefill'],
  // The seeds tag decode endpoints "decoding"; the router's role is called "decode". Both are accepted.
  decodeTags: ['decode', 'decoding'],
  weights: DEFAULT_WEIGHTS,
  adapt: { intervalMs: 5000, min: 0.05, max: 0.6, prefillPressure: 5, decodePressure: 10, relaxStep: 0.02 },
  slaMissPenalty: 1,
  longOutputTokens: 1000,
  latencyMemoryMs: 30_000,
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
    weights: { ...d.weights, ...definedOnly(input.weights) },
    adapt: { ...d.adapt, ...definedOnly(input.adapt) },
    slaMissPenalty: input.slaMissPenalty ?? d.slaMissPenalty,
    longOutputTokens: input.longOutputTokens ?? d.longOutputTokens,
    latencyMemoryMs: input.latencyMemoryMs ?? d.latencyMemoryMs,
  };
  const positive = ['targetTtftMs', 'targetItlMs', 'optimalThroughput', 'expectedTokensPerSecond', 'latencyMemoryMs'] as const;
  for (const key of positive) if (!(o[key] > 0)) throw new RangeError(`qoe: ${key} must be positive, got ${o[key]}`);
  const { min, max, intervalMs } = o.adapt;
  if (!(min >= 0 && min <= max && 4 * min <= 1 && 4 * max >= 1)) {
    throw new RangeError(`qoe: weight bounds [${min}, ${max}] cannot hold four weights summing to 1`);
  }
  if (!(intervalMs > 0)) throw new RangeError(`qoe: adapt interval must be positive, got ${intervalMs}`);
  for (const [k, v] of Object.entries(o.weights)) if (!(v >= 0)) throw new RangeError(`qoe: weight ${k} must be non-negative, got ${v}`);
  if (!(o.slaMissPenalty >= 0)) throw new RangeError(`qoe: slaMissPenalty must be non-negative, got ${o.slaMissPenalty}`);
  return o;
}

function definedOnly<T extends object>(patch: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(patch ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
