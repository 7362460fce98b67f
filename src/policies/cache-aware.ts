// cache_aware: route to the endpoint that most likely holds the prompt's prefix in its KV cache, unless load is imbalanced.
//
// Follows the Rust router (`src/policies/cache_aware.rs`) with these deliberate changes:
// - Load (min/max in-flight) is taken over the candidates, not over every endpoint: an unhealthy or
//   open-breaker endpoint reports 0 in flight, which would make a busy fleet look imbalanced and
//   trigger the fallback on every request.
// - Among several candidates holding the longest match, the least loaded wins (Rust takes whichever
//   tenant it meets first).
// - On a miss, the new prefix goes to the least-loaded candidate, ties broken by the smallest index,
//   then at random. Rust uses load alone, which under light load (all zero) sends every new prefix to
//   the first endpoint; the smallest index spreads new prefixes, and so the cache, across the fleet.
// - A matched tenant that is not a candidate now (unhealthy, breaker open, draining) is skipped for
//   this request, not removed; state is dropped only when the endpoint leaves the pool
//   (`onMembershipChange`).
// - Eviction runs every `evictionIntervalSecs` as in Rust; an insert that takes its endpoint past
//   twice the budget also evicts at once, so memory stays bounded between passes.
// - A match that stops where other cached requests branch off (a shared system prompt, a document many
//   questions ask about) only counts while its holder is within `balanceAbsThreshold / 4` in-flight
//   requests of the least-loaded candidate; past that the request goes to the least-loaded candidate.
//   Such a prefix is cheap to cache once more elsewhere, and with one system prompt in front of every
//   conversation Rust's rule sends every new conversation to the first engine that saw it, since the
//   global guard waits for 64 requests of difference on engines that each run 20–30. A request that
//   extends a cached one (a conversation's previous turn) keeps its endpoint as before.
//
// Two index modes. `chars` matches the routing text character by character (UTF-16 code units; Rust
// counts Unicode scalar values) and `maxTreeSize` counts characters, as in Rust. `blocks` matches the
// chained block hashes from the tokenizer pool (`RoutingRequest.blockHashes`, vLLM's prefix-cache
// keys); the match ratio is in blocks and `maxTreeSize` counts tokens (blocks × block size), so it can
// be set to an endpoint's KV cache capacity in tokens. A prompt shorter than one block has nothing
// vLLM could reuse, so it matches nothing and is routed as a miss.
import type { Endpoint } from '../core/endpoint.ts';
import { holds, type HolderEntry } from '../signals/kv-events/holders.ts';
import type { BlockLookup, KvEventsReader } from '../signals/kv-events/kv-events.ts';
import { createRadixTree, hashOps, stringOps, type SequenceOps } from './radix-tree.ts';
import type { CacheAwareStats, Policy, PolicyDeps, PolicyFactory, RoutingRequest, SelectContext } from './types.ts';

export type CacheAwareMode = 'chars' | 'blocks';

export interface CacheAwareConfig {
  readonly mode: CacheAwareMode;
  /** Tokens per block (`--block-size`), needed in `blocks` mode to express sizes in tokens. */
  readonly blockSize?: number | undefined;
  /** kv_aware: what the engines' KV events say overrides the guess, block by block (blocks mode only). */
  readonly kvEvents?: KvEventsReader | undefined;
}

export interface CacheAwarePolicy extends Policy {
  cacheStats(): CacheAwareStats;
  /** Runs the periodic eviction pass now. */
  evictNow(): void;
}

/** `cacheAware({ mode })` gives the factory; `chars` needs no tokenizer, `blocks` asks for block hashes. */
export function cacheAware(config: CacheAwareConfig): (deps: PolicyDeps) => CacheAwarePolicy {
  if (config.mode === 'chars') return (deps) => build(deps, stringOps, (request) => request.text, 1, undefined);
  const blockSize = config.blockSize ?? 16;
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new RangeError(`cache_aware block size must be a positive integer, got ${blockSize}`);
  }
  return (deps) => build(deps, hashOps, (request) => request.blockHashes ?? hashOps.empty, blockSize, config.kvEvents);
}

/** The registry entry: token blocks when a tokenizer hashes prompts, else characters (no tokenizer needed). */
export const cacheAwarePolicy: PolicyFactory = (deps) =>
  cacheAware(deps.tokenizer === undefined ? { mode: 'chars' } : { mode: 'blocks', blockSize: deps.tokenizer.blockSize })(deps);

/** `unitScale` is 1 for characters, the block size for blocks (the tree counts blocks, sizes are in tokens). */
function build<S>(
  deps: PolicyDeps,
  ops: SequenceOps<S>,
  sequenceOf: (request: RoutingRequest) => S,
  unitScale: number,
  kvEvents: KvEventsReader | undefined,
): CacheAwarePolicy {
  const blocks = ops === (hashOps as SequenceOps<unknown>);
  const { cacheThreshold, balanceAbsThreshold, balanceRelThreshold, evictionIntervalSecs, maxTreeSize } = deps.options;
  const budget = Math.max(1, Math.floor(maxTreeSize / unitScale));
  // In-flight requests a shared prefix's holder may run above the least-loaded candidate. Swept with
  // bench/sim/virtual-fleet.ts over 8 seeds: a quarter of the imbalance threshold spreads one system
  // prompt's conversations as well as an eighth does, and an eighth already scatters longdoc's documents
  // to engines that must prefill them again (TTFT p90 +30–80%).
  const sharedMargin = balanceAbsThreshold / 4;
  const tree = createRadixTree(ops);

  let hits = 0;
  let misses = 0;
  let fallbacks = 0;
  let sharedFallbacks = 0;
  let lastMaxLoad = 0;
  let lastMinLoad = 0;
  // Which tenants are candidates in the current select: one slot per endpoint id, kept across calls
  // and stamped per call. Stamping a persistent slot costs a third of rebuilding a Map of 1,000 ids.
  const slots = new Map<string, { endpoint: Endpoint; stamp: number }>();
  let stamp = 0;

  const evictAll = (): void => {
    for (const tenant of [...tree.tenants()]) tree.evict(tenant, budget);
  };
  const timer = setInterval(evictAll, Math.max(1, evictionIntervalSecs * 1000));
  timer.unref();
  // An engine whose events were purged or cleared holds none of what the router guessed it holds either.
  const stopListening = kvEvents?.onPurge((id) => tree.removeTenant(id));
  const predicted = new Map<string, number>();
  const kvMatch = kvEvents === undefined ? undefined : kvMatcher(kvEvents, (seq: Float64Array) => tree.matchEach(seq as S));

  /** Least in-flight, then smallest index, then uniformly at random among exact ties. */
  function leastLoaded(candidates: readonly Endpoint[]): Endpoint {
    let best = candidates[0] as Endpoint;
    let bestSize = tree.size(best.id);
    let ties = 1;
    for (let i = 1; i < candidates.length; i++) {
      const e = candidates[i] as Endpoint;
      if (e.inFlight > best.inFlight) continue;
      const size = tree.size(e.id);
      if (e.inFlight < best.inFlight || size < bestSize) {
        best = e;
        bestSize = size;
        ties = 1;
      } else if (size === bestSize && deps.random() * ++ties < 1) {
        best = e;
      }
    }
    return best;
  }

  /** Among one node's tenants, the least-loaded one that is a candidate now (kept in `matched`, with `shared`). */
  let matched: Endpoint | undefined;
  let shared = false;
  function chooseTenant(tenants: Iterable<string>, sharedHere: boolean): string | undefined {
    matched = undefined;
    shared = sharedHere;
    for (const id of tenants) {
      const slot = slots.get(id);
      if (slot && slot.stamp === stamp && (!matched || slot.endpoint.inFlight < matched.inFlight)) matched = slot.endpoint;
    }
    return matched?.id;
  }

  function record(sequence: S, endpoint: Endpoint): Endpoint {
    tree.insert(sequence, endpoint.id);
    if (tree.size(endpoint.id) > 2 * budget) tree.evict(endpoint.id, budget);
    return endpoint;
  }

  return {
    name: kvEvents === undefined ? 'cache_aware' : 'kv_aware',
    wantsBlockHashes: blocks,

    select(ctx: SelectContext) {
      const { candidates, request } = ctx;
      if (candidates.length === 0) return undefined;
      const sequence = sequenceOf(request);
      const total = ops.length(sequence);

      let min = Infinity;
      let max = -Infinity;
      stamp++;
      for (const e of candidates) {
        if (e.inFlight < min) min = e.inFlight;
        if (e.inFlight > max) max = e.inFlight;
        const slot = slots.get(e.id);
        if (slot) {
          slot.endpoint = e;
          slot.stamp = stamp;
        } else {
          slots.set(e.id, { endpoint: e, stamp });
        }
      }
      if (max - min > balanceAbsThreshold && max > min * balanceRelThreshold) {
        fallbacks++;
        lastMaxLoad = max;
        lastMinLoad = min;
        return record(sequence, leastLoaded(candidates));
      }

      let ratio = 0;
      matched = undefined;
      if (total > 0 && kvMatch !== undefined) {
        const best = kvMatch(sequence as Float64Array, candidates);
        matched = best?.endpoint;
        shared = best?.shared ?? false;
        ratio = (best?.score ?? 0) / total;
        if (best !== undefined) predicted.set(best.endpoint.id, (predicted.get(best.endpoint.id) ?? 0) + best.blocks * unitScale);
      } else if (total > 0) ratio = tree.match(sequence, chooseTenant).matched / total;
      const holder = matched as Endpoint | undefined;
      if (holder && ratio > cacheThreshold) {
        if (shared && holder.inFlight - min > sharedMargin) {
          fallbacks++;
          sharedFallbacks++;
          return record(sequence, leastLoaded(candidates));
        }
        hits++;
        return record(sequence, holder);
      }
      misses++;
      return record(sequence, leastLoaded(candidates));
    },

    onMembershipChange(all) {
      const present = new Set(all.map((e) => e.id));
      for (const tenant of [...tree.tenants()]) {
        if (!present.has(tenant)) tree.removeTenant(tenant);
      }
      for (const id of [...slots.keys()]) {
        if (!present.has(id)) slots.delete(id);
      }
    },

    dispose() {
      clearInterval(timer);
      stopListening?.();
    },

    evictNow: evictAll,

    cacheStats() {
      const indexSize = new Map<string, number>();
      for (const tenant of tree.tenants()) indexSize.set(tenant, tree.size(tenant) * unitScale);
      return {
        hits,
        misses,
        loadBalancingFallbacks: fallbacks,
        sharedPrefixFallbacks: sharedFallbacks,
        lastMaxLoad,
        lastMinLoad,
        indexSize,
        unit: blocks ? 'tokens' : 'chars',
        predictedCachedTokens: new Map(predicted),
      };
    },
  };
}

/** A CPU copy must come back to the GPU before it is used: cheaper than a prefill, dearer than a hit. */
const CPU_BLOCK_WEIGHT = 0.5;

/** At most this many endpoints get an exact, block-by-block score; the rest are estimated by a search. */
const EXACT_SCORES = 8;

interface KvBest {
  readonly endpoint: Endpoint;
  /** Leading blocks counted, CPU ones at their weight. */
  readonly score: number;
  /** Leading blocks counted, each as one (the cached tokens the router predicts, in blocks). */
  readonly blocks: number;
  readonly shared: boolean;
}

/** Not looked up yet (a block nobody holds is `undefined`). */
const UNSEEN = Symbol('unseen');

/**
 * Whether block i counts for endpoint `id`: held (GPU or CPU) is asked of the fleet's holders, each probed block
 * looked up once per decision (`seen`) and asked about every candidate, since the galloping search probes the same
 * positions for all of them; the endpoint's own index only where its guess would fill in, to tell a removed block
 * from a silent one.
 */
function counted(kv: KvEventsReader, hashes: Float64Array, seen: (HolderEntry | typeof UNSEEN)[], i: number, id: string, held: BlockLookup | undefined, guessed: number): boolean {
  let entry = seen[i] as HolderEntry | typeof UNSEEN;
  if (entry === UNSEEN) entry = seen[i] = kv.holdersOf(hashes[i] as number);
  if (holds(entry, id)) return true;
  return i < guessed && (held === undefined || held.stateOf(hashes[i] as number) !== 'removed');
}

/**
 * The length of the leading run of `total` blocks for which `holds(i)` is true, knowing it holds below `from`:
 * galloping from `from` (1, 2, 4… blocks on), then a binary search in the last step. A cached chain is prefix-closed
 * in vLLM (a block is found only through its parents), so the run is found in a few dozen probes at most.
 */
function leadingRun(total: number, from: number, holds: (i: number) => boolean): number {
  if (from >= total || !holds(from)) return from;
  let lo = from + 1; // holds(lo - 1)
  let step = 1;
  while (lo + step <= total && holds(lo + step - 1)) {
    lo += step;
    step *= 2;
  }
  let hi = Math.min(lo + step, total + 1); // !holds(hi - 1), or hi - 1 = total
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (holds(mid - 1)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * kv_aware's match: per candidate, the leading run of the request's blocks that its engine holds: a block
 * its events name stored counts (a CPU copy less), a removed one ends the run, and where the events are
 * silent the router's guess (the prefix tree) decides. A run is first estimated by galloping search over
 * the blocks (a cached chain is prefix-closed in vLLM: a block is found only through its parents), so a
 * thousand endpoints cost a few dozen lookups each; the longest estimates are then scored exactly.
 */
function kvMatcher(kv: KvEventsReader, guessOf: (seq: Float64Array) => ReadonlyMap<string, { matched: number; shared: boolean }>) {
  return (hashes: Float64Array, candidates: readonly Endpoint[]): KvBest | undefined => {
    const total = hashes.length;
    const guess = guessOf(hashes);
    const estimates: { endpoint: Endpoint; run: number; held: BlockLookup | undefined }[] = [];
    const seen = new Array<HolderEntry | typeof UNSEEN>(total).fill(UNSEEN);
    // Leading blocks every endpoint with a feed holds (a system prompt the fleet has cached): each such candidate's
    // run starts past them, so a thousand of them are not each searched through the shared head.
    const shared = leadingRun(total, 0, (i) => kv.heldByAll(hashes[i] as number));
    // One probe for every candidate (its fields set per candidate), not a closure each.
    let id = '';
    let held: BlockLookup | undefined;
    let guessed = 0;
    const probe = (i: number) => counted(kv, hashes, seen, i, id, held, guessed);
    for (const endpoint of candidates) {
      id = endpoint.id;
      held = kv.holdings(id);
      guessed = guess.get(id)?.matched ?? 0;
      // Without a feed every block is silent: the guess is the run.
      const run = held === undefined ? guessed : leadingRun(total, shared, probe);
      if (run > 0) estimates.push({ endpoint, run, held });
    }
    estimates.sort((a, b) => b.run - a.run || a.endpoint.inFlight - b.endpoint.inFlight);
    let best: KvBest | undefined;
    for (const { endpoint, run, held } of estimates.slice(0, EXACT_SCORES)) {
      // An estimate bounds its score (the exact run never passes it and a CPU block counts less than one): once
      // the next estimate cannot beat the best score, nor tie it less loaded, no later one can (they are sorted
      // by estimate, then load), so most decisions score one or two candidates exactly.
      if (best !== undefined && (run < best.score || (run === best.score && endpoint.inFlight >= best.endpoint.inFlight))) break;
      const g = guess.get(endpoint.id);
      const guessed = g?.matched ?? 0;
      let score = 0;
      let i = 0;
      for (; i < total; i++) {
        const state = held === undefined ? 'silent' : held.stateOf(hashes[i] as number);
        if (state === 'gpu' || (state === 'silent' && i < guessed)) score += 1;
        else if (state === 'cpu') score += CPU_BLOCK_WEIGHT;
        else break;
      }
      if (best === undefined || score > best.score || (score === best.score && endpoint.inFlight < best.endpoint.inFlight))
        // The guess knows whether a match ends where other requests branch off (a shared system prompt).
        best = { endpoint, score, blocks: i, shared: g !== undefined && i <= g.matched ? g.shared : false };
    }
    return best;
  };
}

/** The registry entry of kv_aware: cache_aware on token blocks, with the engines' KV events as the truth. */
export const kvAwarePolicy: PolicyFactory = (deps) =>
  cacheAware({ mode: 'blocks', blockSize: deps.tokenizer?.blockSize ?? 16, kvEvents: deps.signals?.kvEvents ?? NO_EVENTS })(deps);

/** Without a feed the events say nothing: the guess decides every block. */
const NO_EVENTS: KvEventsReader = { holdings: () => undefined, holdersOf: () => undefined, heldByAll: () => false, onPurge: () => () => {} };
