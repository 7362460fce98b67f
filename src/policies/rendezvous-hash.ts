// `rendezvous_hash` (highest random weight): each candidate scores fbi_hash("<key>:<endpoint.id>"); top score wins.
import { fbiHashParts } from './fbi-hash.ts';
import { hashKey } from './hash-key.ts';
import type { PolicyFactory } from './types.ts';

/**
 * Stateless and knob-free: a key keeps its endpoint while that endpoint is a candidate, and when one
 * leaves only its own keys move (vllm-project/router PR #128). Costs one fbi_hash per candidate per request.
 */
export const rendezvousHash: PolicyFactory = ({ options }) => ({
  name: 'rendezvous_hash',
  select({ candidates, request }) {
    if (candidates.length === 0) return undefined;
    const key = hashKey(request, options.sessionHeader);
    let best = candidates[0];
    let bestHi = -1;
    let bestLo = -1;
    for (const endpoint of candidates) {
      const score = fbiHashParts(`${key}:${endpoint.id}`);
      // `>=`: on a tie the later candidate wins, as Rust's `max_by_key` returns the last maximum.
      if (score.hi > bestHi || (score.hi === bestHi && score.lo >= bestLo)) {
        best = endpoint;
        bestHi = score.hi;
        bestLo = score.lo;
      }
    }
    return best;
  },
});
