// `consistent_hash`: a ring of 160 fbi_hash virtual nodes per endpoint; a key goes to the next node clockwise.
import type { Endpoint } from '../core/endpoint.ts';
import { fbiHashParts, type U64 } from './fbi-hash.ts';
import { hashKey } from './hash-key.ts';
import type { PolicyFactory } from './types.ts';

/** Virtual nodes per endpoint, keyed `fbi_hash("<endpoint.id>:<i>")` (Rust `VIRTUAL_NODES_PER_WORKER`). */
export const VIRTUAL_NODES_PER_ENDPOINT = 160;

interface Ring {
  /** The endpoints the ring was built from, in order: a copy of `ctx.all`. */
  readonly members: readonly Endpoint[];
  /** Node positions in ascending unsigned 64-bit order, as halves, and each node's owner (index into members). */
  readonly hi: Uint32Array;
  readonly lo: Uint32Array;
  readonly owner: Uint32Array;
}

/** Node positions per endpoint id, [hi0, lo0, hi1, lo1, …], so a rebuild hashes only endpoints it has not seen. */
type NodeCache = Map<string, Uint32Array>;

function nodesOf(id: string, cache: NodeCache): Uint32Array {
  let nodes = cache.get(id);
  if (nodes === undefined) {
    nodes = new Uint32Array(2 * VIRTUAL_NODES_PER_ENDPOINT);
    for (let i = 0; i < VIRTUAL_NODES_PER_ENDPOINT; i++) {
      const h = fbiHashParts(`${id}:${i}`);
      nodes[2 * i] = h.hi;
      nodes[2 * i + 1] = h.lo;
    }
    cache.set(id, nodes);
  }
  return nodes;
}

function buildRing(all: readonly Endpoint[], cache: NodeCache): Ring {
  const total = all.length * VIRTUAL_NODES_PER_ENDPOINT;
  const hi = new Uint32Array(total);
  const lo = new Uint32Array(total);
  const owner = new Uint32Array(total);
  for (let m = 0; m < all.length; m++) {
    const nodes = nodesOf(all[m]!.id, cache);
    for (let i = 0; i < VIRTUAL_NODES_PER_ENDPOINT; i++) {
      const at = m * VIRTUAL_NODES_PER_ENDPOINT + i;
      hi[at] = nodes[2 * i]!;
      lo[at] = nodes[2 * i + 1]!;
      owner[at] = m;
    }
  }
  // Sort by position, then by insertion order, and keep the last node of each run of equal positions: Rust
  // inserts into a BTreeMap in this order, so a later node overwrites an earlier one at the same position
  // (fbi_hash has only 2^23 distinct values, so this happens: ~1,500 times on a 1,000-endpoint ring).
  const order = sortedNodeOrder(hi, lo);
  const sortedHi = new Uint32Array(total);
  const sortedLo = new Uint32Array(total);
  const sortedOwner = new Uint32Array(total);
  let size = 0;
  for (let k = 0; k < total; k++) {
    const node = order[k]!;
    const next = order[k + 1];
    if (next !== undefined && hi[next] === hi[node] && lo[next] === lo[node]) continue;
    sortedHi[size] = hi[node]!;
    sortedLo[size] = lo[node]!;
    sortedOwner[size] = owner[node]!;
    size += 1;
  }
  return {
    members: [...all],
    hi: sortedHi.subarray(0, size),
    lo: sortedLo.subarray(0, size),
    owner: sortedOwner.subarray(0, size),
  };
}

/** Nodes indexed below this can be packed with their high half into one double and sorted natively. */
const PACKED_INDEX_LIMIT = 2 ** 21;

/**
 * Node indices ordered by (hi, lo, index). A typed-array sort of `hi · 2^21 + index` doubles (exact below
 * 2^53) takes ~15 ms for a 1,000-endpoint ring against ~90 ms with a comparator; the rare runs that share a
 * high half are then ordered by the comparator.
 */
function sortedNodeOrder(hi: Uint32Array, lo: Uint32Array): Uint32Array {
  const total = hi.length;
  const byPosition = (a: number, b: number): number => hi[a]! - hi[b]! || lo[a]! - lo[b]! || a - b;
  const order = new Uint32Array(total);
  if (total > PACKED_INDEX_LIMIT) {
    for (let k = 0; k < total; k++) order[k] = k;
    return order.sort(byPosition);
  }
  const packed = new Float64Array(total);
  for (let k = 0; k < total; k++) packed[k] = hi[k]! * PACKED_INDEX_LIMIT + k;
  packed.sort();
  for (let k = 0; k < total; k++) order[k] = packed[k]! % PACKED_INDEX_LIMIT;
  for (let start = 0; start < total; ) {
    let end = start + 1;
    while (end < total && hi[order[end]!] === hi[order[start]!]) end += 1;
    if (end - start > 1) order.subarray(start, end).sort(byPosition);
    start = end;
  }
  return order;
}

/** Index of the first node at or after `key`, wrapping to 0 past the end. */
function firstNodeFrom(ring: Ring, key: U64): number {
  let low = 0;
  let high = ring.owner.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    const h = ring.hi[mid]!;
    if (h < key.hi || (h === key.hi && ring.lo[mid]! < key.lo)) low = mid + 1;
    else high = mid;
  }
  return low === ring.owner.length ? 0 : low;
}

function sameMembers(members: readonly Endpoint[], all: readonly Endpoint[]): boolean {
  if (members.length !== all.length) return false;
  for (let i = 0; i < all.length; i++) if (members[i] !== all[i]) return false;
  return true;
}

/**
 * The ring is built over `ctx.all` (available or not) so positions stay put while endpoints flap. It is
 * rebuilt only when membership changes: `onMembershipChange` rebuilds it at once, off the request path, and
 * `select` compares `ctx.all` with the list the ring was built from (by reference, then element by element
 * when it is another array), so it also notices changes it was not told about. The registry hands out a new
 * array on every change; a caller that edits its array in place must call `onMembershipChange`.
 *
 * When the ring's endpoint is not a candidate we walk on clockwise to the next node whose endpoint is. The
 * Rust router falls back to the first healthy worker instead, so every session of a down endpoint piles
 * onto that one worker; walking spreads them as if the endpoint had left the ring, and they return when
 * it recovers.
 */
export const consistentHash: PolicyFactory = ({ options }) => {
  const { sessionHeader } = options;
  let ring: Ring | undefined;
  /** The array the ring was last checked against, to skip the element-wise compare. */
  let source: readonly Endpoint[] | undefined;
  let cache: NodeCache = new Map();

  const rebuild = (all: readonly Endpoint[]): Ring => {
    // Keep cached nodes only for endpoints still present, so removed endpoints do not leak.
    const kept: NodeCache = new Map();
    for (const endpoint of all) {
      const nodes = cache.get(endpoint.id);
      if (nodes !== undefined) kept.set(endpoint.id, nodes);
    }
    cache = kept;
    source = all;
    ring = buildRing(all, cache);
    return ring;
  };

  const ringOver = (all: readonly Endpoint[]): Ring => {
    if (ring !== undefined && all === source) return ring;
    if (ring !== undefined && sameMembers(ring.members, all)) {
      source = all;
      return ring;
    }
    return rebuild(all);
  };

  return {
    name: 'consistent_hash',
    select({ candidates, all, request }) {
      if (candidates.length === 0) return undefined;
      const current = ringOver(all);
      const size = current.owner.length;
      if (size === 0) return candidates[0];
      const start = firstNodeFrom(current, fbiHashParts(hashKey(request, sessionHeader)));
      const target = current.members[current.owner[start]!]!;
      if (candidates.includes(target)) return target;

      // Each endpoint is checked once; expected cost is O(all) since about all/candidates are visited.
      const checked = new Uint8Array(current.members.length);
      checked[current.owner[start]!] = 1;
      for (let step = 1; step < size; step++) {
        const at = start + step < size ? start + step : start + step - size;
        const m = current.owner[at]!;
        if (checked[m] === 1) continue;
        checked[m] = 1;
        const endpoint = current.members[m]!;
        if (candidates.includes(endpoint)) return endpoint;
      }
      // No candidate is on the ring, so they did not come from `ctx.all`; fall back as Rust does.
      return candidates[0];
    },
    onMembershipChange(all) {
      rebuild(all);
    },
  };
};
