// `round_robin`: one counter per policy instance; each request takes candidates[counter++ % n], as in Rust.
import type { PolicyFactory } from './types.ts';

export const roundRobin: PolicyFactory = () => {
  // A double counts exactly to 2^53, far beyond any router's lifetime, so it never wraps.
  let counter = 0;
  return {
    name: 'round_robin',
    select({ candidates }) {
      const n = candidates.length;
      if (n === 0) return undefined;
      const chosen = candidates[counter % n];
      counter += 1;
      return chosen;
    },
  };
};
