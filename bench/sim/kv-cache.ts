// A vLLM V1-style KV block pool: fixed capacity, prefix caching by chained block hash, LRU eviction.
//
// Follows vllm/v1/core/block_pool.py and kv_cache_manager.py: a block that is full gets its hash recorded and
// stays findable after its request frees it; freed blocks join the tail of one free queue; allocation takes
// from the head, evicting whatever cached hash that block held. Freeing a request's blocks in reverse order
// puts its tail blocks nearer the head, so a shared prefix outlives the suffixes hanging off it.

export interface KvCache {
  readonly numBlocks: number;
  readonly blockSize: number;
  /** Blocks that can be handed out now: never used, or cached but referenced by no running request. */
  numFree(): number;
  /** vLLM's `kv_cache_usage_perc`: 1 − free / total, so cached-but-idle blocks count as free. */
  usage(): number;
  /** The block ids of the longest cached run at the start of `hashes`, at most `maxBlocks` long. */
  match(hashes: readonly bigint[], maxBlocks: number): number[];
  /** How many of `ids` sit in the free queue: reusing them takes capacity, as allocating would. */
  countEvictable(ids: readonly number[]): number;
  /** Takes a reference on each block (a prefix-cache hit), pulling idle ones out of the free queue. */
  touch(ids: readonly number[]): void;
  /** `n` blocks from the head of the free queue (least recently freed first), or null if fewer are free. */
  allocate(n: number): number[] | null;
  /** Records that block `id` now holds the (full) block whose chained hash is `hash`. */
  cache(id: number, hash: bigint): void;
  /** Drops one reference per block, last block first; unreferenced blocks join the free queue's tail. */
  free(ids: readonly number[]): void;
  /** Distinct hashes currently findable (for tests and debugging). */
  cachedBlocks(): number;
}

export function createKvCache(numBlocks: number, blockSize: number): KvCache {
  if (!Number.isInteger(numBlocks) || numBlocks < 1) throw new Error(`numBlocks must be a positive integer, got ${numBlocks}`);
  // A doubly linked free queue over block ids, with a sentinel at index numBlocks.
  const sentinel = numBlocks;
  const next = new Int32Array(numBlocks + 1);
  const prev = new Int32Array(numBlocks + 1);
  const inQueue = new Uint8Array(numBlocks);
  const refs = new Int32Array(numBlocks);
  const hashOf: (bigint | undefined)[] = new Array(numBlocks).fill(undefined);
  const byHash = new Map<bigint, number>();
  let free = 0;

  const append = (id: number): void => {
    const last = prev[sentinel] as number;
    next[last] = id;
    prev[id] = last;
    next[id] = sentinel;
    prev[sentinel] = id;
    inQueue[id] = 1;
    free++;
  };
  const unlink = (id: number): void => {
    const p = prev[id] as number;
    const n = next[id] as number;
    next[p] = n;
    prev[n] = p;
    inQueue[id] = 0;
    free--;
  };
  next[sentinel] = sentinel;
  prev[sentinel] = sentinel;
  for (let id = 0; id < numBlocks; id++) append(id);

  return {
    numBlocks,
    blockSize,
    numFree: () => free,
    usage: () => 1 - free / numBlocks,
    match(hashes, maxBlocks) {
      const out: number[] = [];
      const limit = Math.min(hashes.length, maxBlocks);
      for (let i = 0; i < limit; i++) {
        const id = byHash.get(hashes[i] as bigint);
        if (id === undefined) break;
        out.push(id);
      }
      return out;
    },
    countEvictable(ids) {
      let n = 0;
      for (const id of ids) if (inQueue[id] === 1) n++;
      return n;
    },
    touch(ids) {
      for (const id of ids) {
        if (inQueue[id] === 1) unlink(id);
        refs[id] = (refs[id] as number) + 1;
      }
    },
    allocate(n) {
      if (n > free) return null;
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const id = next[sentinel] as number;
        unlink(id);
        const h = hashOf[id];
        if (h !== undefined) {
          // Eviction: the block is reused, so its old contents can no longer be found.
          if (byHash.get(h) === id) byHash.delete(h);
          hashOf[id] = undefined;
        }
        refs[id] = 1;
        out.push(id);
      }
      return out;
    },
    cache(id, hash) {
      if (hashOf[id] !== undefined) return;
      hashOf[id] = hash;
      // A duplicate (two requests computed the same block at once) keeps the first copy findable, as vLLM does.
      if (!byHash.has(hash)) byHash.set(hash, id);
    },
    free(ids) {
      for (let i = ids.length - 1; i >= 0; i--) {
        const id = ids[i] as number;
        const r = (refs[id] as number) - 1;
        refs[id] = r;
        if (r === 0) append(id);
      }
    },
    cachedBlocks: () => byHash.size,
  };
}
