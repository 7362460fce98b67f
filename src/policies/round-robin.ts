// `round_robin`: one counter per policy instance; each request takes candidates[counter++ % n], as in Rust.
//
// On a retry the Rust router runs the policy again over every healthy endpoint (src/core/retry.rs re-selects
// per attempt), so with A failing and B, C healthy the retry goes to B, the next endpoint in turn. This router
// never retries on an endpoint the request already tried, so it steps through the same list from the same
// position and skips the tried ones: the retry goes to B as in Rust, and to C rather than back to A after that.
import type { Endpoint } from '../core/endpoint.ts';
import type { PolicyFactory } from './types.ts';

export const roundRobin: PolicyFactory = () => {
  // A double counts exactly to 2^53, far beyond any router's lifetime, so it never wraps.
  let counter = 0;
  return {
    name: 'round_robin',
    select({ candidates, eligible }) {
      const n = candidates.length;
      if (n === 0) return undefined;
      const turn = counter;
      counter += 1;
      if (eligible === undefined || eligible === candidates) return candidates[turn % n];
      return nextUntried(eligible, candidates, turn) ?? candidates[turn % n];
    },
  };
};

/** The first of `candidates` at or after position `turn` of `eligible`, going round. */
function nextUntried(eligible: readonly Endpoint[], candidates: readonly Endpoint[], turn: number): Endpoint | undefined {
  const untried = new Set(candidates);
  const n = eligible.length;
  for (let k = 0; k < n; k++) {
    const e = eligible[(turn + k) % n]!;
    if (untried.has(e)) return e;
  }
  return undefined;
}
