// The QoE cost's weights, adapted to the fleet's load once per interval and kept within bounds, summing to 1.
//
// The rules of production-stack PR #349 (unmerged), with its defects fixed: it changed the weights
// on every request, so a burst of requests walked them to the extremes, and nothing brought them back.
// Here the load is averaged over an interval and the weights move once per interval:
// - many requests waiting for a first token (prefill pressure): performance +0.05, resource −0.03,
//   reliability −0.02, so TTFT counts more;
// - otherwise many decoding (decode pressure): resource +0.05, performance −0.03, reliability −0.02, so
//   busy endpoints are avoided;
// - otherwise each weight moves back toward its initial value by at most `relaxStep`.
// After each move the weights are projected onto {min ≤ w ≤ max, Σw = 1} (the closest such point), so
// both invariants hold exactly, not only after a renormalisation that could push one out of bounds.
import type { AdaptOptions, QoeWeights } from './options.ts';

export const WEIGHT_KEYS = ['resource', 'performance', 'reliability', 'priority'] as const;
type Key = (typeof WEIGHT_KEYS)[number];

/** Requests across the candidates at one moment. */
export interface FleetLoad {
  readonly inPrefill: number;
  readonly inDecode: number;
  readonly endpoints: number;
}

export interface AdaptiveWeights {
  current(): QoeWeights;
  /** Records the load seen now; when an interval has passed since the last change, adapts once. */
  observe(now: number, load: FleetLoad): QoeWeights;
}

export function createAdaptiveWeights(initial: QoeWeights, adapt: AdaptOptions): AdaptiveWeights {
  const start = projectWeights(initial, adapt);
  let weights = start;
  let intervalStart: number | undefined;
  let prefillSum = 0;
  let decodeSum = 0;
  let samples = 0;

  const step = (meanPrefill: number, meanDecode: number): QoeWeights => {
    if (meanPrefill > adapt.prefillPressure) {
      return shifted(weights, { performance: 0.05, resource: -0.03, reliability: -0.02, priority: 0 });
    }
    if (meanDecode > adapt.decodePressure) {
      return shifted(weights, { resource: 0.05, performance: -0.03, reliability: -0.02, priority: 0 });
    }
    const back = {} as Record<Key, number>;
    for (const k of WEIGHT_KEYS) back[k] = Math.max(-adapt.relaxStep, Math.min(adapt.relaxStep, start[k] - weights[k]));
    return shifted(weights, back);
  };

  return {
    current: () => weights,
    observe(now, load) {
      if (intervalStart === undefined) intervalStart = now;
      if (load.endpoints > 0) {
        prefillSum += load.inPrefill / load.endpoints;
        decodeSum += load.inDecode / load.endpoints;
        samples++;
      }
      if (now - intervalStart >= adapt.intervalMs) {
        if (samples > 0) weights = projectWeights(step(prefillSum / samples, decodeSum / samples), adapt);
        intervalStart = now;
        prefillSum = decodeSum = samples = 0;
      }
      return weights;
    },
  };
}

function shifted(w: QoeWeights, delta: Readonly<Record<Key, number>>): QoeWeights {
  return {
    resource: w.resource + delta.resource,
    performance: w.performance + delta.performance,
    reliability: w.reliability + delta.reliability,
    priority: w.priority + delta.priority,
  };
}

/**
 * The point of {min ≤ w ≤ max, Σw = 1} closest to `w`: clamp(w + λ) for the λ that makes the sum 1.
 * The sum is monotone in λ, so bisection finds the clamped set, then λ is solved exactly on the free ones.
 */
export function projectWeights(w: QoeWeights, bounds: Pick<AdaptOptions, 'min' | 'max'>): QoeWeights {
  const { min, max } = bounds;
  const values = WEIGHT_KEYS.map((k) => w[k]);
  const clamp = (x: number) => Math.min(max, Math.max(min, x));
  // A point already inside is its own projection; returning it as given avoids rounding drift.
  if (values.every((v) => v >= min && v <= max) && Math.abs(values.reduce((s, v) => s + v, 0) - 1) <= 1e-12) return w;
  const total = (lambda: number) => values.reduce((s, v) => s + clamp(v + lambda), 0);
  let lo = min - Math.max(...values);
  let hi = max - Math.min(...values);
  for (let i = 0; i < 100 && hi - lo > 1e-15; i++) {
    const mid = (lo + hi) / 2;
    if (total(mid) < 1) lo = mid;
    else hi = mid;
  }
  let lambda = (lo + hi) / 2;
  const free = values.filter((v) => v + lambda > min && v + lambda < max);
  if (free.length > 0) {
    const pinned = values.filter((v) => !(v + lambda > min && v + lambda < max)).reduce((s, v) => s + clamp(v + lambda), 0);
    lambda = (1 - pinned - free.reduce((s, v) => s + v, 0)) / free.length;
  }
  const out = values.map((v) => clamp(v + lambda));
  return { resource: out[0]!, performance: out[1]!, reliability: out[2]!, priority: out[3]! };
}
