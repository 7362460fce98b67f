// `random`: a uniform choice among the candidates, drawn from the injected random source.
import type { PolicyFactory } from './types.ts';

export const random: PolicyFactory = (deps) => ({
  name: 'random',
  select({ candidates }) {
    const n = candidates.length;
    // min() guards a random source that returns 1 by mistake.
    return n === 0 ? undefined : candidates[Math.min(n - 1, Math.floor(deps.random() * n))];
  },
});
