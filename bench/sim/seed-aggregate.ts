// Figures over several seeds: every number of a run summary becomes its mean over the seeds with the
// min–max range, so a table says how much of a difference between policies is the workload's luck.
//
// Min–max rather than a standard deviation: with three seeds a standard deviation is itself a guess, while the
// range shows exactly the best and the worst seed.
import type { RunSummary } from './report.ts';

/** A figure over seeds: the mean of the per-seed values and the smallest and largest of them. */
export interface Spread {
  mean: number;
  min: number;
  max: number;
}

/** `T` with every number replaced by its Spread over seeds (arrays element by element). */
export type Seeded<T> = T extends number ? Spread : T extends readonly (infer E)[] ? Seeded<E>[] : T extends string ? T : { [K in keyof T]: Seeded<T[K]> };

/** A row of the tables: one policy at one rate over its seeds. */
export type SeedSummary = Seeded<Omit<RunSummary, 'policy' | 'rate'>> & { policy: string; rate: number; seeds: number[] };

/**
 * Mean, min and max. An unbounded value (a TTFT percentile with requests that never got a token) makes the
 * mean unbounded too; an undefined one (NaN: a hit rate with no queries) makes the mean undefined.
 */
export function spreadOf(values: readonly number[]): Spread {
  if (values.length === 0) return { mean: Number.NaN, min: Number.NaN, max: Number.NaN };
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    sum += v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { mean: sum / values.length, min, max };
}

/** Combines the same field of every seed's summary. A field some seeds lack (a request class that did not
 * occur in a short run) is combined over the seeds that have it. */
function combine(values: readonly unknown[]): unknown {
  const present = values.filter((v) => v !== undefined);
  const first = present[0];
  if (typeof first === 'number') return spreadOf(present as number[]);
  if (Array.isArray(first)) {
    const arrays = present as unknown[][];
    const length = Math.max(...arrays.map((a) => a.length));
    return Array.from({ length }, (_, i) => combine(arrays.map((a) => a[i])));
  }
  if (typeof first === 'object' && first !== null) {
    const objects = present as Record<string, unknown>[];
    const keys = [...new Set(objects.flatMap((o) => Object.keys(o)))];
    return Object.fromEntries(keys.map((k) => [k, combine(objects.map((o) => o[k]))]));
  }
  return first;
}

/** One policy at one rate: the summaries of its seeds (in seed order) as one row. */
export function aggregateSeeds(runs: readonly RunSummary[], seeds: readonly number[]): SeedSummary {
  const first = runs[0];
  if (first === undefined || runs.length !== seeds.length) throw new Error(`aggregateSeeds needs one summary per seed, got ${runs.length} for ${seeds.length} seeds`);
  for (const r of runs) if (r.policy !== first.policy || r.rate !== first.rate) throw new Error(`aggregateSeeds mixes ${first.policy} at ${first.rate} with ${r.policy} at ${r.rate}`);
  const rest = runs.map(({ policy: _p, rate: _r, ...fields }) => fields);
  return { ...(combine(rest) as Seeded<Omit<RunSummary, 'policy' | 'rate'>>), policy: first.policy, rate: first.rate, seeds: [...seeds] };
}
