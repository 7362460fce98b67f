// How much of a request's prompt each candidate endpoint already holds in its KV cache, in tokens: the
// approximate prefix tree cache_aware keeps (what the router sent where), overridden block by block by the
// engines' KV events when a feed is configured (kv_aware's reading, policies/cache-aware.ts kvMatcher).
// The QoE latency predictor charges only the uncached rest to an endpoint's prefill.
import type { Endpoint } from '../../core/endpoint.ts';
import type { KvEventsReader } from '../../signals/kv-events/kv-events.ts';
import { createRadixTree, hashOps, stringOps, type RadixTree } from '../radix-tree.ts';
import type { RoutingRequest } from '../types.ts';

/**
 * Characters per token when the router has no tokenizer: the usual figure for English text with BPE
 * tokenizers (about 4; OpenAI's tokenizer guide), good enough to weigh a prompt against a queue.
 */
export const CHARS_PER_TOKEN = 4;

/** A CPU copy must come back to the GPU before it is used: it saves half a prefill (as in kv_aware). */
const CPU_BLOCK_SHARE = 0.5;

export interface PromptCache {
  /** The prompt's length in tokens (estimated from characters without a tokenizer). */
  readonly promptTokens: number;
  /** Tokens of the prompt each endpoint holds; an endpoint holding none is absent. */
  cachedTokens(id: string): number;
}

export interface PrefixAffinity {
  /** Reads the index once for this request; `cachedTokens` is then a map lookup per candidate. */
  lookup(request: RoutingRequest, candidates: readonly Endpoint[]): PromptCache;
  /** The request was sent to `id`: its engine will hold the prompt. */
  record(request: RoutingRequest, id: string): void;
  /** Drops endpoints that left the pool. */
  retain(ids: ReadonlySet<string>): void;
  dispose(): void;
}

export interface PrefixAffinityOptions {
  /** Tokens per block when prompts come as block hashes (a tokenizer is configured); undefined: characters. */
  readonly blockSize: number | undefined;
  /** Per endpoint (--max-tree-size), in the index's unit as in cache_aware: characters, or tokens with a tokenizer. */
  readonly maxTreeSize: number;
  readonly evictionIntervalMs: number;
  readonly kvEvents?: KvEventsReader | undefined;
}

export function createPrefixAffinity(options: PrefixAffinityOptions): PrefixAffinity {
  return options.blockSize === undefined ? charAffinity(options) : blockAffinity(options.blockSize, options);
}

/** Characters of the routing text; tokens are estimated. */
function charAffinity(options: PrefixAffinityOptions): PrefixAffinity {
  const tree = createRadixTree(stringOps);
  const budget = Math.max(1, options.maxTreeSize);
  return withEviction(tree, budget, options.evictionIntervalMs, undefined, {
    lookup(request) {
      const matches = request.text.length === 0 ? undefined : tree.matchEach(request.text);
      return {
        promptTokens: request.text.length / CHARS_PER_TOKEN,
        cachedTokens: (id) => (matches?.get(id)?.matched ?? 0) / CHARS_PER_TOKEN,
      };
    },
    record(request, id) {
      insert(tree, request.text, id, budget);
    },
  });
}

/** Block hashes from the tokenizer pool (vLLM's prefix-cache keys), and what the KV events say of them. */
function blockAffinity(blockSize: number, options: PrefixAffinityOptions): PrefixAffinity {
  const tree = createRadixTree(hashOps);
  const budget = Math.max(1, Math.floor(options.maxTreeSize / blockSize));
  const kv = options.kvEvents;
  const blocksOf = (request: RoutingRequest): Float64Array => request.blockHashes ?? hashOps.empty;
  return withEviction(tree, budget, options.evictionIntervalMs, kv, {
    lookup(request, candidates) {
      const hashes = blocksOf(request);
      const guess = hashes.length === 0 ? undefined : tree.matchEach(hashes);
      // Without a feed the tree is the answer; with one, each candidate's events decide where they speak.
      const cached = new Map<string, number>();
      if (guess !== undefined && kv === undefined) for (const [id, m] of guess) cached.set(id, m.matched * blockSize);
      if (guess !== undefined && kv !== undefined) {
        for (const e of candidates) {
          const held = kv.holdings(e.id);
          const guessed = guess.get(e.id)?.matched ?? 0;
          let blocks = 0;
          // vLLM finds a block only through its parents, so the cached run ends at the first block not held.
          for (let i = 0; i < hashes.length; i++) {
            const state = held === undefined ? 'silent' : held.stateOf(hashes[i] as number);
            if (state === 'gpu' || (state === 'silent' && i < guessed)) blocks += 1;
            else if (state === 'cpu') blocks += CPU_BLOCK_SHARE;
            else break;
          }
          if (blocks > 0) cached.set(e.id, blocks * blockSize);
        }
      }
      // The tokens past the last whole block are never cached; a prompt's length is counted up to a block.
      return { promptTokens: Math.max(hashes.length * blockSize, request.text.length / CHARS_PER_TOKEN), cachedTokens: (id) => cached.get(id) ?? 0 };
    },
    record(request, id) {
      insert(tree, blocksOf(request), id, budget);
    },
  });
}

function insert<S>(tree: RadixTree<S>, seq: S, id: string, budget: number): void {
  tree.insert(seq, id);
  // As cache_aware: an insert past twice the budget evicts at once, so memory stays bounded between passes.
  if (tree.size(id) > 2 * budget) tree.evict(id, budget);
}

/** The shared part: periodic eviction, membership, and the purge of an engine whose events were reset. */
function withEviction<S>(
  tree: RadixTree<S>,
  budget: number,
  intervalMs: number,
  kv: KvEventsReader | undefined,
  core: Pick<PrefixAffinity, 'lookup' | 'record'>,
): PrefixAffinity {
  const timer = setInterval(() => {
    for (const tenant of [...tree.tenants()]) tree.evict(tenant, budget);
  }, Math.max(1, intervalMs));
  timer.unref();
  const stopListening = kv?.onPurge((id) => tree.removeTenant(id));
  return {
    ...core,
    retain(ids) {
      for (const tenant of [...tree.tenants()]) if (!ids.has(tenant)) tree.removeTenant(tenant);
    },
    dispose() {
      clearInterval(timer);
      stopListening?.();
    },
  };
}
