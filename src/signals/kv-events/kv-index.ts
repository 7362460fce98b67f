// What one engine holds in its prefix cache, as its KV events say: block by block, keyed by the router's own
// hash of the block's tokens chained to its parent, so a request's token blocks can be looked up directly.
//
// vLLM's block hash cannot be reproduced outside the engine in general (its default sha256 hashes a Python
// pickle, and the chain starts from a random seed unless PYTHONHASHSEED is set: vllm/v1/core/kv_cache_utils.py),
// so it is kept only as the name a later BlockRemoved uses. Dynamo's KV router and llm-d do the same
// (ai-dynamo/dynamo lib/kv-router, llm-d-kv-cache). A block whose parent the router has not seen (stored before
// the router listened, and no longer in the engine's replay buffer) is kept under a stand-in chain from its
// parent's name and counted; it becomes matchable when a later event (a replay) tells its parent's chain.
import { nextBlockHash } from '../../pool/block-hash.ts';
import type { BlockKey, KvEvent, RemovedEvent, StoredEvent } from './decode.ts';

export interface KvIndexOptions {
  /** --kv-block-size: an event with another block size is skipped (and counted by the caller). */
  readonly blockSize: number;
  /** --kv-index-max-entries: the most blocks kept for this engine; the oldest stored go first. */
  readonly maxEntries: number;
  /** The chain root of a block without parent, for its LoRA adapter and cache salt (pool/block-hash.ts chainRoot). */
  readonly rootFor: (loraName: string | undefined, cacheSalt: string | undefined) => number;
  /** Told when the index starts (true) or stops (false) holding a chain hash, GPU or CPU (holders.ts). */
  readonly onHolding?: (hash: number, held: boolean) => void;
}

/** Where one block of a request stands, as far as the events say. */
export type BlockState = 'gpu' | 'cpu' | 'removed' | 'silent';

export interface KvIndexStats {
  /** Blocks held (GPU or CPU). */
  readonly blocks: number;
  /** Of which on a stand-in chain, their parent not seen yet. */
  readonly orphans: number;
}

export interface KvIndex {
  /** Applies one event; 'skipped' when it does not fit this index (another block size, a non-attention group, multimodal keys). */
  apply(event: KvEvent): 'applied' | 'skipped';
  /** Forgets everything (a publisher restart, AllBlocksCleared). */
  purge(): void;
  /** What the events say of the block with this chain hash. */
  stateOf(hash: number): BlockState;
  /** Whether blocks of this LoRA adapter were stored (a request naming it chains from the adapter's root). */
  hasAdapter(name: string): boolean;
  stats(): KvIndexStats;
}

interface Entry {
  hash: number;
  readonly parent: BlockKey | undefined;
  /** GPU | CPU | ORPHAN (on a stand-in chain: the parent's hash was not known when it arrived). */
  flags: number;
  /** An orphan's tokens, kept to chain it properly once its parent is known (dropped then). */
  tokens: Uint32Array | undefined;
}

const GPU = 1;
const CPU = 2;
const ORPHAN = 4;
/** Counts of held copies per chain hash, packed in one number: GPU copies + CPU copies × CPU_UNIT. */
const CPU_UNIT = 1 << 20;

const MAX_ADAPTERS = 1024;

/** Removed blocks remembered so that the router's own guess does not bring them back. */
const TOMBSTONES_PER_ENTRY = 0.25;

export function createKvIndex(options: KvIndexOptions): KvIndex {
  const { blockSize, maxEntries } = options;
  const byKey = new Map<BlockKey, Entry>();
  /** Held copies per chain hash (two engine blocks can hold the same tokens), packed: see CPU_UNIT. */
  const byHash = new Map<number, number>();
  /** Children waiting for a parent's chain, by the parent's key. */
  const waiting = new Map<BlockKey, Set<BlockKey>>();
  const tombstones = new Set<number>();
  const maxTombstones = Math.max(1024, Math.floor(maxEntries * TOMBSTONES_PER_ENTRY));
  /** LoRA adapters seen in stored blocks; bounded, since a misbehaving engine could name endless ones. */
  const adapters = new Set<string>();
  /** One block's tokens, reused for every block hashed. */
  const scratch = new Uint32Array(blockSize);
  let orphans = 0;

  const countOf = (flags: number) => (flags & GPU ? 1 : 0) + (flags & CPU ? CPU_UNIT : 0);
  const onHolding = options.onHolding;
  const add = (hash: number, delta: number) => {
    const before = byHash.get(hash) ?? 0;
    const n = before + delta;
    if (n <= 0) byHash.delete(hash);
    else byHash.set(hash, n);
    if (onHolding !== undefined && before <= 0 !== n <= 0) onHolding(hash, n > 0);
  };
  const tombstone = (hash: number) => {
    if (byHash.has(hash)) return;
    tombstones.delete(hash);
    tombstones.add(hash);
    if (tombstones.size > maxTombstones) tombstones.delete(tombstones.values().next().value as number);
  };
  const forgetOrphan = (key: BlockKey, entry: Entry) => {
    orphans--;
    if (entry.parent !== undefined) waiting.get(entry.parent)?.delete(key);
  };
  const drop = (key: BlockKey, entry: Entry) => {
    byKey.delete(key);
    add(entry.hash, -countOf(entry.flags));
    if (entry.flags & ORPHAN) forgetOrphan(key, entry);
  };

  // The oldest key, by a cursor kept across calls: a new iterator would walk past every entry deleted from the
  // front of the map so far, which makes eviction quadratic (measured: 21k blocks/s with a 100k budget, 200k+
  // without). A Map iterator is live: keys stored again (refreshed) come round again at the end.
  let cursor = byKey.keys();
  const evictOldest = () => {
    let next = cursor.next();
    if (next.done) {
      cursor = byKey.keys();
      next = cursor.next();
    }
    const key = next.value as BlockKey;
    drop(key, byKey.get(key) as Entry);
  };

  /** A stand-in chain seed from the parent's name, so descendants of an orphan still chain among themselves. */
  const standIn = (parent: BlockKey) => Number(Bun.hash.rapidhash(`kv-orphan\u0000${parent}`) & ((1n << 52n) - 1n));

  /** Gives `key`'s waiting children (and theirs) the real chain now that `key`'s is known. */
  const relink = (key: BlockKey) => {
    const queue = [key];
    while (queue.length > 0) {
      const parentKey = queue.pop() as BlockKey;
      const parent = byKey.get(parentKey);
      const children = waiting.get(parentKey);
      if (parent === undefined || parent.flags & ORPHAN || children === undefined) continue;
      waiting.delete(parentKey);
      for (const childKey of children) {
        const child = byKey.get(childKey);
        if (child === undefined || !(child.flags & ORPHAN)) continue;
        add(child.hash, -countOf(child.flags));
        child.hash = nextBlockHash(parent.hash, child.tokens as Uint32Array);
        child.flags &= ~ORPHAN;
        child.tokens = undefined;
        orphans--;
        add(child.hash, countOf(child.flags));
        tombstones.delete(child.hash);
        queue.push(childKey);
      }
    }
  };

  const store = (e: StoredEvent) => {
    const medium = e.medium !== undefined && e.medium.toUpperCase() !== 'GPU' ? CPU : GPU;
    const cacheSalt = saltOf(e.extraKeys?.[0], e.loraName);
    if (e.loraName !== undefined && adapters.size < MAX_ADAPTERS) adapters.add(e.loraName);
    let parentKey = e.parent;
    for (let i = 0; i < e.keys.length; i++) {
      const key = e.keys[i] as BlockKey;
      const known = byKey.get(key);
      if (known !== undefined) {
        // Already held: another medium, or a re-announcement after a replay. Keep it, newest last.
        byKey.delete(key);
        byKey.set(key, known);
        if (!(known.flags & medium)) {
          known.flags |= medium;
          add(known.hash, medium === GPU ? 1 : CPU_UNIT);
        }
        parentKey = key;
        continue;
      }
      for (let t = 0; t < blockSize; t++) scratch[t] = e.tokenIds[i * blockSize + t] as number;
      const parent = parentKey === undefined ? undefined : byKey.get(parentKey);
      const orphan = parentKey !== undefined && (parent === undefined || (parent.flags & ORPHAN) !== 0);
      const root = parentKey === undefined ? options.rootFor(e.loraName, cacheSalt) : orphan ? standIn(parentKey) : (parent as Entry).hash;
      const hash = nextBlockHash(root, scratch);
      byKey.set(key, { hash, parent: parentKey, flags: medium | (orphan ? ORPHAN : 0), tokens: orphan ? scratch.slice() : undefined });
      add(hash, medium === GPU ? 1 : CPU_UNIT);
      tombstones.delete(hash);
      if (orphan) {
        orphans++;
        const set = waiting.get(parentKey as BlockKey) ?? new Set<BlockKey>();
        set.add(key);
        waiting.set(parentKey as BlockKey, set);
      } else if (waiting.has(key)) relink(key);
      parentKey = key;
    }
    while (byKey.size > maxEntries) evictOldest();
  };

  const remove = (e: RemovedEvent) => {
    const medium = e.medium !== undefined && e.medium.toUpperCase() !== 'GPU' ? CPU : GPU;
    for (const key of e.keys) {
      const entry = byKey.get(key);
      if (entry === undefined || !(entry.flags & medium)) continue;
      entry.flags &= ~medium;
      add(entry.hash, medium === GPU ? -1 : -CPU_UNIT);
      if (!(entry.flags & (GPU | CPU))) {
        byKey.delete(key);
        if (entry.flags & ORPHAN) forgetOrphan(key, entry);
        tombstone(entry.hash);
      }
    }
  };

  const purge = () => {
    if (onHolding !== undefined) for (const hash of byHash.keys()) onHolding(hash, false);
    byKey.clear();
    cursor = byKey.keys();
    byHash.clear();
    waiting.clear();
    tombstones.clear();
    orphans = 0;
  };

  return {
    apply(event) {
      switch (event.kind) {
        case 'cleared':
          purge();
          return 'applied';
        case 'removed':
          if (event.groupIdx !== 0) return 'skipped';
          remove(event);
          return 'applied';
        case 'stored':
          if (event.groupIdx !== 0 || event.blockSize !== blockSize || hasUnmatchableKeys(event)) return 'skipped';
          store(event);
          return 'applied';
      }
    },
    purge,
    stateOf(hash) {
      const n = byHash.get(hash);
      if (n !== undefined) return n % CPU_UNIT > 0 ? 'gpu' : 'cpu';
      return tombstones.has(hash) ? 'removed' : 'silent';
    },
    hasAdapter: (name) => adapters.has(name),
    stats: () => ({ blocks: byKey.size, orphans }),
  };
}

/**
 * vLLM puts a block's extra hash keys in order: multimodal identifiers, the LoRA name, the cache salt (first
 * block only), prompt-embedding hashes (vllm/v1/core/kv_cache_utils.py generate_block_hash_extra_keys). The
 * router reproduces the LoRA name and the cache salt; any other key it cannot, so such blocks are skipped.
 */
function hasUnmatchableKeys(e: StoredEvent): boolean {
  return (e.extraKeys ?? []).some((keys) => keys !== null && keys !== undefined && (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' || (k !== e.loraName && keys.indexOf(k) !== keys.length - 1))));
}

/** The cache salt among the first block's extra keys: the string after the LoRA name, if any. */
function saltOf(first: unknown, loraName: string | undefined): string | undefined {
  if (!Array.isArray(first)) return undefined;
  const rest = first.filter((k) => k !== loraName);
  return rest.length === 1 && typeof rest[0] === 'string' ? rest[0] : undefined;
}
