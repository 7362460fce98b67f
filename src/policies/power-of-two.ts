// `power_of_two`: sample two distinct candidates at random and take the one with fewer requests in flight.
import type { PolicyFactory } from './types.ts';

/**
 * Load is the router's own live `inFlight` count, kept for every policy. The Rust router polled a
 * `/get_load` route vLLM does not serve (vllm-project/router#174) and only counted in-flight requests for
 * cache_aware (#177), so its power_of_two degraded to random.
 */
export const powerOfTwo: PolicyFactory = (deps) => {
  const pick = (n: number): number => Math.min(n - 1, Math.floor(deps.random() * n));
  return {
    name: 'power_of_two',
    select({ candidates }) {
      const n = candidates.length;
      if (n <= 1) return candidates[0];
      const i = pick(n);
      // A uniform second index among the other n-1: same distribution as Rust's redraw-until-distinct loop.
      let j = pick(n - 1);
      if (j >= i) j += 1;
      const first = candidates[i]!;
      const second = candidates[j]!;
      // Ties go to the first draw (Rust: `load1 <= load2`).
      return first.inFlight <= second.inFlight ? first : second;
    },
  };
};
