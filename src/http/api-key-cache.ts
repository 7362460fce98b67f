// Remembered verdicts on inbound API keys: bounded in size, each expiring after its own time to live.
//
// The Rust router kept every verdict forever in an unbounded map: a revoked key stayed valid until restart,
// and a client cycling random keys grew the map without limit. Here a verdict expires (a positive one after
// a longer time than a negative one, so a newly issued key is usable soon) and the least recently used
// entry goes when the cache is full.

export interface VerdictCacheOptions {
  readonly positiveTtlMs: number;
  readonly negativeTtlMs: number;
  readonly maxEntries: number;
  /** Monotonic milliseconds. */
  readonly now: () => number;
}

export interface VerdictCache {
  /** The remembered verdict, or undefined when there is none or it expired. */
  get(key: string): boolean | undefined;
  set(key: string, valid: boolean): void;
  readonly size: number;
}

interface Entry {
  readonly valid: boolean;
  readonly expiresAt: number;
}

export function createVerdictCache(options: VerdictCacheOptions): VerdictCache {
  if (!(options.maxEntries >= 1)) throw new Error(`api key cache: maxEntries must be at least 1, got ${options.maxEntries}`);
  // A Map iterates in insertion order: re-inserting on every hit keeps the least recently used entry first.
  const entries = new Map<string, Entry>();
  return {
    get(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      entries.delete(key);
      if (options.now() >= entry.expiresAt) return undefined;
      entries.set(key, entry);
      return entry.valid;
    },
    set(key, valid) {
      const ttl = valid ? options.positiveTtlMs : options.negativeTtlMs;
      entries.delete(key);
      if (ttl <= 0) return;
      entries.set(key, { valid, expiresAt: options.now() + ttl });
      if (entries.size > options.maxEntries) entries.delete(entries.keys().next().value as string);
    },
    get size() {
      return entries.size;
    },
  };
}
