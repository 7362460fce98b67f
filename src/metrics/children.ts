// Bound label children for the hot path. prom-client validates and hashes the label object on every
// `inc({…})`; a child from `labels(…)` skips both. Children are kept per label-value tuple, and the cache
// is bounded (labels are bounded already; the bound only guards against a bug turning into a leak).
const MAX_CHILDREN = 10_000;

export function cachedChildren<C>(labels: (...values: string[]) => C): (...values: string[]) => C {
  const cache = new Map<string, C>();
  return (...values) => {
    const key = values.length === 1 ? values[0]! : values.join('\u0000');
    let child = cache.get(key);
    if (child === undefined) {
      if (cache.size >= MAX_CHILDREN) cache.clear();
      child = labels(...values);
      cache.set(key, child);
    }
    return child;
  };
}
