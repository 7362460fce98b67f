// Chained hashes of full token blocks, the scheme vLLM's prefix cache keys its KV blocks by.
//
// vLLM (v1 `kv_cache_utils.hash_block_tokens`) hashes block i as H(parent_hash, tokens of block i,
// extra_keys), starting from a seed hash, and only for full blocks: a partial last block is never
// cached. We keep that shape so two prompts share hash prefixes exactly when they share token-block
// prefixes (up to 52-bit collisions). The values are our own (rapidhash, seeded with the parent), not
// vLLM's: they only need to agree within this process.

/** Hashes are truncated to 52 bits so every value is an exact, non-negative double. */
export const HASH_BITS = 52;
const MASK = (1n << BigInt(HASH_BITS)) - 1n;
const encoder = new TextEncoder();


/**
 * Hash the chain starts from. vLLM puts `cache_salt` into the first block's extra keys, so requests
 * with different salts never share cached blocks; seeding the chain with the salt gives the same effect.
 */
export function rootHash(salt?: string): number {
  return Number(Bun.hash.rapidhash(encoder.encode(`vllm-router/block-hash/v1\u0000${salt ?? ''}`)) & MASK);
}

/**
 * The root of a chain for a LoRA adapter and a cache salt: vLLM puts both into the block hash's extra keys
 * (vllm/v1/core/kv_cache_utils.py), so blocks of different adapters or salts never match. Without an adapter
 * it is `rootHash(salt)`.
 */
export function chainRoot(loraName?: string, cacheSalt?: string): number {
  return loraName === undefined ? rootHash(cacheSalt) : rootHash(`lora:${loraName}\u0000${cacheSalt ?? ''}`);
}

/** The hash of one block of `tokens` whose parent's hash is `parent`: one step of `chainBlockHashes`. */
export function nextBlockHash(parent: number, tokens: Uint32Array): number {
  return Number(Bun.hash.rapidhash(tokens, BigInt(parent)) & MASK);
}

/**
 * Block i of `tokens` gets h_i = H(h_{i-1}, tokens[i·blockSize, (i+1)·blockSize)), with h_{-1} = root.
 * Only full blocks are hashed, so the result has floor(tokens.length / blockSize) elements.
 */
export function chainBlockHashes(
  tokens: Uint32Array | readonly number[],
  blockSize: number,
  root: number = rootHash(),
): Float64Array {
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new RangeError(`block size must be a positive integer, got ${blockSize}`);
  }
  const ids = tokens instanceof Uint32Array ? tokens : Uint32Array.from(tokens);
  const count = Math.floor(ids.length / blockSize);
  const out = new Float64Array(count);
  let parent = BigInt(root);
  for (let i = 0; i < count; i++) {
    // The seed carries the whole 52-bit parent (rapidhash takes a 64-bit seed).
    parent = Bun.hash.rapidhash(ids.subarray(i * blockSize, (i + 1) * blockSize), parent) & MASK;
    out[i] = Number(parent);
  }
  return out;
}
