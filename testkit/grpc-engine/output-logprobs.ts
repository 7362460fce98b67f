// The stand-in's deterministic output logprobs, ranked as an engine ranks them: the sampled token is never the
// most likely one (id + 1 is, at rank 1), so an answer that shows "the top ones" without putting the sampled token
// back (as vLLM's OpenAI server does, its logprob dict opening with it) is told apart.

/** The sampled token's logprob at output position `k`. */
export const sampledLogprobAt = (k: number): number => -0.25 * ((k % 4) + 1);

/** The engine's top `count` tokens at a position, most likely first: id + 1, the sampled id (rank 2), then id + 2, … */
export function outputTopAt(id: number, k: number, count: number): { id: number; logprob: number; rank: number }[] {
  const ranked = [{ id: id + 1, logprob: -0.125, rank: 1 }, { id, logprob: sampledLogprobAt(k), rank: 2 }];
  for (let j = 2; j < count; j++) ranked.push({ id: id + j, logprob: -3 - j, rank: j + 1 });
  return ranked.slice(0, Math.max(0, count));
}
