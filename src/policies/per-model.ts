// One instance of a policy per model, for the policies whose state means something for one model only: a
// prefix cached for a model is no hit for another (vLLM keys its prefix cache by LoRA adapter too), and a
// round-robin counter shared by two models' requests can send every request of one model to the same engine.
// A request that names no listed model uses the default instance; a fleet with one model has just that one
// instance more, found with one Map lookup per request.
import type { Endpoint } from '../core/endpoint.ts';
import type { CacheAwareStats, Policy, SelectContext } from './types.ts';

/**
 * Models given their own instance at most; requests for further ones share the default instance. Each
 * cache_aware instance bounds its index by --max-tree-size per endpoint, so this also bounds what all of them
 * may hold together.
 */
const MAX_MODELS = 64;

export function perModel(make: () => Policy): Policy {
  const fallback = make();
  const instances = new Map<string, Policy>();
  let members: readonly Endpoint[] | undefined;
  const instanceFor = (model: string | undefined): Policy => {
    if (model === undefined) return fallback;
    let p = instances.get(model);
    if (p === undefined) {
      if (instances.size >= MAX_MODELS) return fallback;
      p = make();
      if (members !== undefined) p.onMembershipChange?.(members);
      instances.set(model, p);
    }
    return p;
  };
  const every = () => [fallback, ...instances.values()];
  return {
    name: fallback.name,
    wantsBlockHashes: fallback.wantsBlockHashes,
    select: (ctx: SelectContext) => instanceFor(ctx.model).select(ctx),
    onMembershipChange(all) {
      members = all;
      for (const p of every()) p.onMembershipChange?.(all);
    },
    dispose() {
      for (const p of every()) p.dispose?.();
    },
    ...(fallback.cacheStats !== undefined && { cacheStats: () => sumStats(every().map((p) => p.cacheStats?.())) }),
  };
}

/** The counters of every instance together (the gauges of the last imbalance are the default instance's). */
function sumStats(all: readonly (CacheAwareStats | undefined)[]): CacheAwareStats | undefined {
  const [first] = all;
  if (first === undefined) return undefined;
  const indexSize = new Map<string, number>();
  const predicted = new Map<string, number>();
  let hits = 0;
  let misses = 0;
  let loadBalancingFallbacks = 0;
  let sharedPrefixFallbacks = 0;
  for (const s of all) {
    if (s === undefined) continue;
    hits += s.hits;
    misses += s.misses;
    loadBalancingFallbacks += s.loadBalancingFallbacks;
    sharedPrefixFallbacks += s.sharedPrefixFallbacks;
    for (const [id, n] of s.indexSize) indexSize.set(id, (indexSize.get(id) ?? 0) + n);
    for (const [id, n] of s.predictedCachedTokens ?? []) predicted.set(id, (predicted.get(id) ?? 0) + n);
  }
  return {
    hits,
    misses,
    loadBalancingFallbacks,
    sharedPrefixFallbacks,
    lastMaxLoad: first.lastMaxLoad,
    lastMinLoad: first.lastMinLoad,
    indexSize,
    unit: first.unit,
    ...(first.predictedCachedTokens !== undefined && { predictedCachedTokens: predicted }),
  };
}
