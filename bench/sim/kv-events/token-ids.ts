// The engine's tokens as the token ids BlockStored carries. Today the engine's tokens are words (bench/sim/tokens.ts),
// so a word becomes a stable id in Llama 3's vocabulary range; once the engine's tokens are ids this file goes away.

/** Llama 3's vocabulary size: the ids a word maps to stay in the range a real tokenizer produces. */
const VOCAB_SIZE = 128_256;

export function tokenIds(tokens: readonly (string | number)[]): number[] {
  return tokens.map((t) => (typeof t === 'number' ? t : Bun.hash.xxHash32(t) % VOCAB_SIZE));
}
