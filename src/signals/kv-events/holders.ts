// Which endpoints hold a block, across the fleet: one map from the router's chain hash of a block to the ids of
// the endpoints whose events say they hold it (GPU or CPU), fed by each endpoint's index as its holdings change.
// kv_aware asks it first: a block every endpoint holds (a shared system prompt) is one lookup in a map that stays
// in cache instead of one in each endpoint's own index, which is what a thousand candidates made slow.
export interface Holders {
  /** The listener endpoint `id`'s index calls when it starts (true) or stops (false) holding a block. */
  listenerFor(id: string): (hash: number, held: boolean) => void;
  /** The endpoints holding the block with this chain hash, or undefined when none does. */
  holdersOf(hash: number): ReadonlySet<string> | undefined;
}

export function createHolders(): Holders {
  const byHash = new Map<number, Set<string>>();
  return {
    listenerFor: (id) => (hash, held) => {
      const set = byHash.get(hash);
      if (held) {
        if (set === undefined) byHash.set(hash, new Set([id]));
        else set.add(id);
      } else if (set !== undefined) {
        set.delete(id);
        if (set.size === 0) byHash.delete(hash);
      }
    },
    holdersOf: (hash) => byHash.get(hash),
  };
}
