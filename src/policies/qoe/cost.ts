// The QoE cost of sending one request to one endpoint: α·resource + β·performance + γ·reliability +
// δ·priority (each part in [0, 1]), plus a penalty when the endpoint's expected TTFT misses the request's
// target. Lower is better. Pure functions of constructed signals, so every part can be checked alone.
//
// Where this departs from the unmerged production-stack code (vllm-project/production-stack PR #349), and why:
// - Ratios saturate softly, x/(1+x) (0.5 at the target, never flat), instead of min(1, x): with min, an
//   endpoint at twice the target and one at ten times tie.
// - Reliability is the measured error rate combined with the breaker state; uptime says nothing about it.
// - Priority depends on the endpoint: urgent requests pay for the queue they would join, batch requests do
//   not. The original `(priority − 1)/2` was the same for every endpoint, so it never changed a choice.
// - The SLA target is used: it normalises TTFT and an endpoint expected to miss it is penalised.
// - A signal nobody measured is left out of its part (the remaining factors are renormalised), except a
//   latency: an endpoint without one is costed as fast, so it gets tried and measured instead of being
//   starved behind a neutral guess that every measured endpoint under the target would beat.
import type { BreakerState } from '../../core/circuit-breaker.ts';
import type { QoeOptions, QoeWeights } from './options.ts';
import type { RequestProfile } from './request-profile.ts';

/** What is known about an endpoint now; undefined means not measured (or stale). */
export interface EndpointSignals {
  /** The router's own requests in flight to it: always known. */
  readonly inFlight: number;
  /** Router-side requests waiting for their first token, and streaming; the policy falls back to inFlight. */
  readonly inPrefill: number | undefined;
  readonly inDecode: number | undefined;
  readonly ttftMs: number | undefined;
  /**
   * Requests waiting for their first token there, on average over the time ttftMs was measured in;
   * undefined when unknown (then ttftMs is taken as the expectation as it is).
   */
  readonly ttftQueue: number | undefined;
  readonly itlMs: number | undefined;
  /** Decoding speed of one stream. */
  readonly tokensPerSecond: number | undefined;
  /** Share of recent requests that failed, 0..1. */
  readonly errorRate: number | undefined;
  readonly breaker: BreakerState;
  /** From the engine's /metrics, only when the scrape is fresh. */
  readonly running: number | undefined;
  readonly waiting: number | undefined;
  readonly kvCacheUsage: number | undefined;
  readonly prefixCacheHitRate: number | undefined;
}

export interface CostParts {
  readonly resource: number;
  readonly performance: number;
  readonly reliability: number;
  readonly priority: number;
  /** Outside the weighted sum: 0 when the target is met or the TTFT is unknown. */
  readonly slaPenalty: number;
}

export type CostTargets = Pick<QoeOptions, 'targetItlMs' | 'optimalThroughput' | 'slaMissPenalty' | 'longOutputTokens'>;

/** Latency cost of an endpoint nobody has measured: optimistic, see the file comment. */
const UNMEASURED = 0;
// Counts at which a load factor reaches 0.5. vLLM batches hundreds of sequences, so a few requests in
// flight barely matter, while requests the engine itself queues mean it is saturated.
const IN_FLIGHT_HALF = 32;
const PENDING_PREFILL_HALF = 16;
const ENGINE_WAITING_HALF = 4;
const DECODING_HALF = 32;

/** Soft saturation of a non-negative ratio: 0 at 0, 0.5 at 1, toward 1 beyond. */
export const saturate = (x: number): number => (x > 0 ? x / (1 + x) : 0);

/** Weighted mean over the factors that are known; 0 when none is. */
function blend(factors: readonly (readonly [weight: number, value: number | undefined])[]): number {
  let sum = 0;
  let weights = 0;
  for (const [w, v] of factors) {
    if (v === undefined) continue;
    sum += w * v;
    weights += w;
  }
  return weights === 0 ? 0 : sum / weights;
}

export const pendingPrefill = (s: EndpointSignals): number => s.inPrefill ?? s.inFlight;

/** α: how full the endpoint is. KV-cache usage, the engine's own queue, and the router's requests in flight. */
export function resourceCost(s: EndpointSignals): number {
  return blend([
    [0.4, s.kvCacheUsage],
    [0.3, s.waiting === undefined ? undefined : saturate(s.waiting / ENGINE_WAITING_HALF)],
    [0.3, saturate(s.inFlight / IN_FLIGHT_HALF)],
  ]);
}

/** Prefill quality: TTFT against the request's target, prefix-cache misses, requests ahead in prefill. */
export function prefillCost(s: EndpointSignals, slaTargetMs: number): number {
  const queued = pendingPrefill(s) / PENDING_PREFILL_HALF + (s.waiting ?? 0) / ENGINE_WAITING_HALF;
  return blend([
    [0.5, s.ttftMs === undefined ? UNMEASURED : saturate(s.ttftMs / slaTargetMs)],
    [0.2, s.prefixCacheHitRate === undefined ? undefined : 1 - s.prefixCacheHitRate],
    [0.3, saturate(queued)],
  ]);
}

/** Decode quality: ITL against its target, stream speed against the optimum, KV-cache room, decode load. */
export function decodeCost(s: EndpointSignals, longOutput: boolean, targets: Pick<CostTargets, 'targetItlMs' | 'optimalThroughput'>): number {
  const tps = s.tokensPerSecond ?? (s.itlMs !== undefined && s.itlMs > 0 ? 1000 / s.itlMs : undefined);
  // A long answer is read over many seconds: sustained speed weighs more than the gap between two tokens.
  const [itlWeight, speedWeight] = longOutput ? [0.4, 0.3] : [0.5, 0.2];
  return blend([
    [itlWeight, s.itlMs === undefined ? UNMEASURED : saturate(s.itlMs / targets.targetItlMs)],
    [speedWeight, tps === undefined ? UNMEASURED : saturate(targets.optimalThroughput / tps)],
    [0.2, s.kvCacheUsage],
    [0.1, saturate((s.inDecode ?? s.inFlight) / DECODING_HALF)],
  ]);
}

/**
 * β: the phase's quality. A PD stage is scored by its own metric alone. A regular endpoint serves both
 * phases, so both count, weighted toward the request's phase (a first turn waits on TTFT, a continuation
 * mostly reads) and toward decoding for long answers.
 */
export function performanceCost(s: EndpointSignals, r: RequestProfile, targets: CostTargets): number {
  const long = r.expectedOutputTokens !== undefined && r.expectedOutputTokens > targets.longOutputTokens;
  if (r.stage === 'prefill') return prefillCost(s, r.slaTargetMs);
  if (r.stage === 'decode') return decodeCost(s, long, targets);
  const prefillShare = Math.max(0.1, (r.phase === 'prefill' ? 0.7 : 0.3) - (long ? 0.2 : 0));
  return prefillShare * prefillCost(s, r.slaTargetMs) + (1 - prefillShare) * decodeCost(s, long, targets);
}

const BREAKER_COST: Readonly<Record<BreakerState, number>> = { closed: 0, half_open: 0.5, open: 1 };

/** γ: the chance the request fails there: measured errors, or a breaker still probing recovery. */
export function reliabilityCost(s: EndpointSignals): number {
  const errors = Math.min(1, Math.max(0, s.errorRate ?? 0));
  return 1 - (1 - errors) * (1 - BREAKER_COST[s.breaker]);
}

/** δ: how much the queue there hurts this request; 1 for priority 1, 0.5 for 2, nothing for 3. */
export function priorityCost(s: EndpointSignals, r: RequestProfile): number {
  const urgency = (3 - r.priority) / 2;
  if (r.stage === 'decode') return urgency * saturate((s.inDecode ?? s.inFlight) / DECODING_HALF + (s.waiting ?? 0) / ENGINE_WAITING_HALF);
  return urgency * saturate(pendingPrefill(s) / PENDING_PREFILL_HALF + (s.waiting ?? 0) / ENGINE_WAITING_HALF);
}

/**
 * The TTFT a request sent now can expect: the measured TTFT, scaled by the prefill queue it would join
 * against the queue those measurements saw (the wait grows with the work queued ahead). The measured TTFT
 * alone is history: an endpoint just under the target took every urgent request until its first answers
 * came back late, and 8–10 first turns queued there (bench:sim mixed workload on a fast/slow fleet,
 * bench/README.md).
 */
export function expectedTtft(s: EndpointSignals): number | undefined {
  if (s.ttftMs === undefined || s.ttftQueue === undefined) return s.ttftMs;
  return (s.ttftMs * (1 + pendingPrefill(s))) / (1 + s.ttftQueue);
}

/**
 * The SLA penalty: when the expected TTFT misses the target, half the penalty plus up to half again as the
 * miss grows to twice the target. A decode stage does not produce the first token, so it is exempt.
 */
export function slaPenalty(s: EndpointSignals, r: RequestProfile, penalty: number): number {
  const ttft = expectedTtft(s);
  if (r.stage === 'decode' || ttft === undefined || ttft <= r.slaTargetMs) return 0;
  return penalty * (0.5 + 0.5 * Math.min(1, (ttft - r.slaTargetMs) / r.slaTargetMs));
}

export function costParts(s: EndpointSignals, r: RequestProfile, targets: CostTargets): CostParts {
  return {
    resource: resourceCost(s),
    performance: performanceCost(s, r, targets),
    reliability: reliabilityCost(s),
    priority: priorityCost(s, r),
    slaPenalty: slaPenalty(s, r, targets.slaMissPenalty),
  };
}

export function totalCost(parts: CostParts, w: QoeWeights): number {
  return w.resource * parts.resource + w.performance * parts.performance + w.reliability * parts.reliability + w.priority * parts.priority + parts.slaPenalty;
}
