// The stand-in's deterministic prompt logprobs: position k > 0 of the prompt gets a logprob set by k, and its top
// alternatives are the prompt token itself (rank 1) then the next ids, as vLLM's logprob dict lists them (the token first,
// then the top ranks); the first token has none (nothing precedes it).

/** The logprob of prompt position `k` (k > 0). */
export const promptLogprobAt = (k: number): number => -0.5 - 0.125 * (k % 4);

/** Position k's top `count` entries: the prompt token, then ids after it with falling logprobs. */
export function promptTopAt(id: number, k: number, count: number): { id: number; logprob: number; rank: number }[] {
  return Array.from({ length: Math.max(0, count) }, (_, j) => ({ id: id + j, logprob: j === 0 ? promptLogprobAt(k) : -3 - j, rank: j + 1 }));
}
