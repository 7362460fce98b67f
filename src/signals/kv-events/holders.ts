// Which endpoints hold a block, across the fleet: one map from the router's chain hash of a block to the ids of
// the endpoints whose events say they hold it (GPU or CPU), fed by each endpoint's index as its holdings change.
// kv_aware asks it first: a block every endpoint holds (a shared system prompt) is one lookup in a map that stays
// in cache instead of one in each endpoint's own index, which is what a thousand candidates made slow.
//
// Most blocks have one holder: it is kept as the id itself, and a set only from the second holder on, so the map
// costs an entry per block rather than an entry and a set (the flood test's RSS).
/** Who holds one block: nobody, one endpoint (its id) or several. Ask it with `holds`. */
export type HolderEntry = string | ReadonlySet<string> | undefined;

/** Whether `id` is among the holders `entry` names. */
export const holds = (entry: HolderEntry, id: string): boolean => entry === id || (typeof entry === 'object' && entry.has(id));

export interface Holders {
  /** The listener endpoint `id`'s index calls when it starts (true) or stops (false) holding a block. */
  listenerFor(id: string): (hash: number, held: boolean) => void;
  /** Who holds the block with this chain hash: one lookup a caller may keep while it asks about many endpoints. */
  holdersOf(hash: number): HolderEntry;
}

export function createHolders(): Holders {
  const byHash = new Map<number, string | Set<string>>();
  const hold = (hash: number, id: string) => {
    const now = byHash.get(hash);
    if (now === undefined) byHash.set(hash, id);
    else if (typeof now === 'string') {
      if (now !== id) byHash.set(hash, new Set([now, id]));
    } else now.add(id);
  };
  const release = (hash: number, id: string) => {
    const now = byHash.get(hash);
    if (now === id) byHash.delete(hash);
    else if (typeof now === 'object') {
      now.delete(id);
      if (now.size === 1) byHash.set(hash, now.values().next().value as string);
    }
  };
  return {
    listenerFor: (id) => (hash, held) => (held ? hold(hash, id) : release(hash, id)),
    holdersOf: (hash) => byHash.get(hash),
  };
}
