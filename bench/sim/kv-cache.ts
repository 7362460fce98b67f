// A vLLM V1-style KV block pool: fixed capacity, prefix caching by chained block hash, LRU eviction.
//
// Follows vllm/v1/core/block_pool.py and kv_cache_manager.py: a block that is full gets its hash recorded and
// stays findable after its request frees it; freed blocks join the tail of one free queue; allocation takes
// from the head, evicting whatever cached hash that block held. Freeing a request's blocks in reverse order
// puts its tail blocks nearer the head, so a shared prefix outlives the suffixes hanging off it.

/**
 * What the pool reports to a KV-event publisher, where vllm/v1/core/block_pool.py queues BlockStored,
 * BlockRemoved and AllBlocksCleared. Called synchronously, so the events of a step arrive in order.
 */
export interface KvCacheEvents {
  /**
   * Full blocks `hashes` of one sequence were cached (one call per `cacheFull`, as one BlockStored per
   * cache_full_blocks). `parent` is the hash of the block before the first, null at the start of a sequence;
   * `tokens` are the blocks' token ids.
   */
  stored(hashes: readonly bigint[], parent: bigint | null, tokens: readonly number[]): void;
  /** A cached block was evicted to be reused; every copy counts, as in vLLM, even if another block has the hash. */
  removed(hash: bigint): void;
  /** `reset` forgot every hash. */
  cleared(): void;
}

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
  /**
   * vLLM's cache_full_blocks: caches `ids[from..to)` as the full blocks `hashes[from..to)` of one sequence whose
   * tokens (from its first) are `tokens`, and reports them as one stored event.
   */
  cacheFull(ids: readonly number[], hashes: readonly bigint[], from: number, to: number, tokens: readonly number[]): void;
  /** vLLM's reset_prefix_cache: forgets every hash, unless a request still holds blocks (then false, nothing changes). */
  reset(): boolean;
  /** Drops one reference per block, last block first; unreferenced blocks join the free queue's tail. */
  free(ids: readonly number[]): void;
  /** Distinct hashes currently findable (for tests and debugging). */
  cachedBlocks(): number;
}

/** `events`, when given, hears of every block cached, evicted and cleared; without it nothing is reported or built. */
export function createKvCache(numBlocks: number, blockSize: number, events?: KvCacheEvents): KvCache {
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

  const cache = (id: number, hash: bigint): void => {
    if (hashOf[id] !== undefined) return;
    hashOf[id] = hash;
    // A duplicate (two requests computed the same block at once) keeps the first copy findable, as vLLM does.
    if (!byHash.has(hash)) byHash.set(hash, id);
  };

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
          if (events !== undefined) events.removed(h);
        }
        refs[id] = 1;
        out.push(id);
      }
      return out;
    },
    cache,
    cacheFull(ids, hashes, from, to, tokens) {
      for (let b = from; b < to; b++) cache(ids[b] as number, hashes[b] as bigint);
      if (events === undefined || to <= from) return;
      events.stored(hashes.slice(from, to), from === 0 ? null : (hashes[from - 1] as bigint), tokens.slice(from * blockSize, to * blockSize));
    },
    reset() {
      if (free !== numBlocks) return false;
      hashOf.fill(undefined);
      byHash.clear();
      if (events !== undefined) events.cleared();
      return true;
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
