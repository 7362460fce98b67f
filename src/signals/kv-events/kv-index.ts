// What one engine holds in its prefix cache, as its KV events say: block by block, keyed by the router's own
// hash of the block's tokens chained to its parent, so a request's token blocks can be looked up directly.
//
// vLLM's block hash cannot be reproduced outside the engine in general (its default sha256 hashes a Python
// pickle, and the chain starts from a random seed unless PYTHONHASHSEED is set: vllm/v1/core/kv_cache_utils.py),
// so it is kept only as the name a later BlockRemoved uses. Dynamo's KV router and llm-d do the same
// (ai-dynamo/dynamo lib/kv-router, llm-d-kv-cache). A block whose parent the router has not seen (stored before
// the router listened, and no longer in the engine's replay buffer) is kept under a stand-in chain from its
// parent's name and counted; it becomes matchable when a later event (a replay) tells its parent's chain.
import { chainBlockHashes } from '../../pool/block-hash.ts';
import type { BlockKey, KvEvent, RemovedEvent, StoredEvent } from './decode.ts';

export interface KvIndexOptions {
  /** --kv-block-size: an event with another block size is skipped (and counted by the caller). */
  readonly blockSize: number;
  /** --kv-index-max-entries: the most blocks kept for this engine; the oldest stored go first. */
  readonly maxEntries: number;
  /** The chain root of a block without parent, for its LoRA adapter and cache salt (pool/block-hash.ts chainRoot). */
  readonly rootFor: (loraName: string | undefined, cacheSalt: string | undefined) => number;
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
  gpu: boolean;
  cpu: boolean;
  /** On a stand-in chain: the parent's hash was not known when it arrived. */
  orphan: boolean;
  readonly tokens: Uint32Array;
  readonly root: number;
}

const MAX_ADAPTERS = 1024;

/** Removed blocks remembered so that the router's own guess does not bring them back. */
const TOMBSTONES_PER_ENTRY = 0.25;

export function createKvIndex(options: KvIndexOptions): KvIndex {
  const { blockSize, maxEntries } = options;
  const byKey = new Map<BlockKey, Entry>();
  /** How many held entries (GPU, CPU) carry each chain hash; two engine blocks can hold the same tokens. */
  const byHash = new Map<number, { gpu: number; cpu: number }>();
  /** Children waiting for a parent's chain, by the parent's key. */
  const waiting = new Map<BlockKey, Set<BlockKey>>();
  const tombstones = new Set<number>();
  const maxTombstones = Math.max(1024, Math.floor(maxEntries * TOMBSTONES_PER_ENTRY));
  let orphans = 0;
  /** LoRA adapters seen in stored blocks; bounded, since a misbehaving engine could name endless ones. */
  const adapters = new Set<string>();

  const count = (hash: number, gpu: number, cpu: number) => {
    const c = byHash.get(hash) ?? { gpu: 0, cpu: 0 };
    c.gpu += gpu;
    c.cpu += cpu;
    if (c.gpu <= 0 && c.cpu <= 0) byHash.delete(hash);
    else byHash.set(hash, c);
  };
  const tombstone = (hash: number) => {
    if (byHash.has(hash)) return;
    tombstones.delete(hash);
    tombstones.add(hash);
    if (tombstones.size > maxTombstones) tombstones.delete(tombstones.values().next().value as number);
  };

  const drop = (key: BlockKey, entry: Entry) => {
    byKey.delete(key);
    count(entry.hash, entry.gpu ? -1 : 0, entry.cpu ? -1 : 0);
    if (entry.orphan) {
      orphans--;
      if (entry.parent !== undefined) waiting.get(entry.parent)?.delete(key);
    }
  };

  /** A stand-in chain seed from the parent's name, so descendants of an orphan still chain among themselves. */
  const standIn = (parent: BlockKey) => Number(Bun.hash.rapidhash(`kv-orphan\u0000${parent}`) & ((1n << 52n) - 1n));

  /** Gives `key`'s waiting children (and theirs) the real chain now that `key`'s is known. */
  const relink = (key: BlockKey) => {
    const queue = [key];
    while (queue.length > 0) {
      const parentKey = queue.shift() as BlockKey;
      const parent = byKey.get(parentKey);
      const children = waiting.get(parentKey);
      if (parent === undefined || parent.orphan || children === undefined) continue;
      waiting.delete(parentKey);
      for (const childKey of children) {
        const child = byKey.get(childKey);
        if (child === undefined || !child.orphan) continue;
        count(child.hash, child.gpu ? -1 : 0, child.cpu ? -1 : 0);
        child.hash = chainBlockHashes(child.tokens, blockSize, parent.hash)[0] as number;
        child.orphan = false;
        orphans--;
        count(child.hash, child.gpu ? 1 : 0, child.cpu ? 1 : 0);
        tombstones.delete(child.hash);
        queue.push(childKey);
      }
    }
  };

  const store = (e: StoredEvent) => {
    const onCpu = e.medium !== undefined && e.medium.toUpperCase() !== 'GPU';
    const cacheSalt = saltOf(e.extraKeys?.[0], e.loraName);
    if (e.loraName !== undefined && adapters.size < MAX_ADAPTERS) adapters.add(e.loraName);
    let parentKey = e.parent;
    for (let i = 0; i < e.keys.length; i++) {
      const key = e.keys[i] as BlockKey;
      const tokens = Uint32Array.from(e.tokenIds.slice(i * blockSize, (i + 1) * blockSize));
      const known = byKey.get(key);
      if (known !== undefined) {
        // Already held: another medium, or a re-announcement after a replay. Keep it, newest last.
        byKey.delete(key);
        byKey.set(key, known);
        if (onCpu && !known.cpu) count(known.hash, 0, 1), (known.cpu = true);
        if (!onCpu && !known.gpu) count(known.hash, 1, 0), (known.gpu = true);
        parentKey = key;
        continue;
      }
      const parent = parentKey === undefined ? undefined : byKey.get(parentKey);
      const root = parentKey === undefined ? options.rootFor(e.loraName, cacheSalt) : parent !== undefined && !parent.orphan ? parent.hash : standIn(parentKey);
      const orphan = parentKey !== undefined && (parent === undefined || parent.orphan);
      const hash = chainBlockHashes(tokens, blockSize, root)[0] as number;
      const entry: Entry = { hash, parent: parentKey, gpu: !onCpu, cpu: onCpu, orphan, tokens, root };
      byKey.set(key, entry);
      count(hash, onCpu ? 0 : 1, onCpu ? 1 : 0);
      tombstones.delete(hash);
      if (orphan) {
        orphans++;
        const set = waiting.get(parentKey as BlockKey) ?? new Set<BlockKey>();
        set.add(key);
        waiting.set(parentKey as BlockKey, set);
      } else relink(key);
      parentKey = key;
    }
    while (byKey.size > maxEntries) {
      const [oldKey, oldest] = byKey.entries().next().value as [BlockKey, Entry];
      drop(oldKey, oldest);
    }
  };

  const remove = (e: RemovedEvent) => {
    const onCpu = e.medium !== undefined && e.medium.toUpperCase() !== 'GPU';
    for (const key of e.keys) {
      const entry = byKey.get(key);
      if (entry === undefined) continue;
      if (onCpu && entry.cpu) count(entry.hash, 0, -1), (entry.cpu = false);
      if (!onCpu && entry.gpu) count(entry.hash, -1, 0), (entry.gpu = false);
      if (!entry.gpu && !entry.cpu) {
        // Its own count is already zero: take it out of the key map alone.
        byKey.delete(key);
        if (entry.orphan) {
          orphans--;
          if (entry.parent !== undefined) waiting.get(entry.parent)?.delete(key);
        }
        tombstone(entry.hash);
      }
    }
  };

  const purge = () => {
    byKey.clear();
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
      const c = byHash.get(hash);
      if (c !== undefined) return c.gpu > 0 ? 'gpu' : 'cpu';
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
