// Open-loop arrival processes: request send times fixed in advance, whatever the system's latency, so
// overload shows as growing queues instead of a client that politely slows down.
import type { Rng } from './rng.ts';

/** Send times (ms from the start) of a Poisson process at `ratePerSec` over `durationSec`. */
export function poissonArrivals(rng: Rng, ratePerSec: number, durationSec: number): number[] {
  if (!(ratePerSec > 0)) throw new Error(`rate must be positive, got ${ratePerSec}`);
  const out: number[] = [];
  const end = durationSec * 1000;
  for (let t = rng.exp(1000 / ratePerSec); t < end; t += rng.exp(1000 / ratePerSec)) out.push(t);
  return out;
}

/** Evenly spaced send times: the same mean rate with no burstiness (for comparisons and tests). */
export function uniformArrivals(ratePerSec: number, durationSec: number): number[] {
  const out: number[] = [];
  const gap = 1000 / ratePerSec;
  for (let t = gap / 2; t < durationSec * 1000; t += gap) out.push(t);
  return out;
}
