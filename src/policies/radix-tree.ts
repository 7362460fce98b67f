// Multi-tenant radix tree with per-tenant LRU eviction, over characters or over chained block hashes.
//
// The Rust router's `tree.rs` keeps one character radix tree whose nodes record which tenants
// (endpoints) recently routed text through them. This is the same structure made generic over the
// sequence type: strings (one element = one UTF-16 code unit) or Float64Arrays of block hashes.
//
// Eviction order. Each tenant keeps its nodes in a doubly linked recency list, oldest first. An
// insert moves every node on its path to the tail, deepest first, and a split puts the new upper node
// right after the node it was cut from; so a node always sits after all of its descendants. Evicting
// from the head therefore removes leaves before their parents, and each tenant's nodes stay a subtree
// hanging from the root (a node's tenants ⊆ its parent's). Rust timestamps nodes and sorts leaves in
// a heap at each pass; the order is the same, at O(1) per node.

/** The few operations the tree needs on a sequence type. */
export interface SequenceOps<S> {
  readonly empty: S;
  length(seq: S): number;
  /** Child lookup key of the element at `index`. */
  key(seq: S, index: number): number;
  /** Length of the common prefix of `edge` and `seq[from…]`. */
  common(edge: S, seq: S, from: number): number;
  /** An independent copy of `seq[start, end)` (a stored edge must not pin the caller's whole input). */
  copy(seq: S, start: number, end: number): S;
}

const CHUNK = 4096;

export const stringOps: SequenceOps<string> = {
  empty: '',
  length: (seq) => seq.length,
  key: (seq, index) => seq.charCodeAt(index),
  common(edge, seq, from) {
    // Native comparisons (memcmp-fast) do the bulk: whole edge, then 4K chunks, then a binary search
    // inside the chunk that differs. A charCodeAt loop over 100K characters costs ~50× more.
    if (seq.startsWith(edge, from)) return edge.length;
    const max = Math.min(edge.length, seq.length - from);
    let lo = 0;
    while (lo + CHUNK <= max && seq.startsWith(edge.substring(lo, lo + CHUNK), from + lo)) lo += CHUNK;
    let hi = Math.min(lo + CHUNK, max);
    while (hi - lo > 32) {
      const mid = (lo + hi) >>> 1;
      if (seq.startsWith(edge.substring(lo, mid), from + lo)) lo = mid;
      else hi = mid;
    }
    while (lo < max && edge.charCodeAt(lo) === seq.charCodeAt(from + lo)) lo++;
    return lo;
  },
  copy(seq, start, end) {
    // JSC substrings keep their whole base string alive (a 100-character edge would pin a 128K-character
    // prompt). structuredClone makes a flat copy and keeps the 8-bit representation, which the
    // comparisons above need to stay fast (8-bit vs 16-bit strings compare character by character).
    const slice = seq.substring(start, end);
    return slice.length <= 16 ? slice : structuredClone(slice);
  },
};

export const hashOps: SequenceOps<Float64Array> = {
  empty: new Float64Array(0),
  length: (seq) => seq.length,
  key: (seq, index) => seq[index] as number,
  common(edge, seq, from) {
    const max = Math.min(edge.length, seq.length - from);
    let i = 0;
    while (i < max && edge[i] === seq[from + i]) i++;
    return i;
  },
  copy: (seq, start, end) => seq.slice(start, end),
};

interface Node<S> {
  edge: S;
  parent: Node<S> | undefined;
  readonly children: Map<number, Node<S>>;
  /** Tenants holding this node, each with the node's place in that tenant's recency list. */
  readonly tenants: Map<string, Link<S>>;
}

interface Link<S> {
  readonly node: Node<S>;
  prev: Link<S> | undefined;
  next: Link<S> | undefined;
}

/** One tenant's nodes, least recently used first, and the elements they hold. */
interface Recency<S> {
  head: Link<S> | undefined;
  tail: Link<S> | undefined;
  size: number;
}

export interface Match {
  /** Elements of the input matched by the chosen tenant's cached prefix. */
  readonly matched: number;
  /** The tenant `choose` picked at the deepest node it accepted, if any. */
  readonly tenant: string | undefined;
}

/**
 * Picks one of a node's tenants, or undefined to go up. `shared` tells whether a match ending at this
 * node would stop at a point that both `seq` and the cached text go on from (mid-edge, at a node with
 * children, or above deeper matched nodes): the matched text is then also a prefix of other cached
 * requests, such as a system prompt, rather than a cached request that `seq` extends (a conversation's
 * previous turn ends at a leaf) or the whole of `seq`.
 */
export type Chooser = (tenants: Iterable<string>, shared: boolean) => string | undefined;

/** One tenant's longest cached prefix of a sequence, and whether it ends where cached requests branch off. */
export interface TenantMatch {
  readonly matched: number;
  readonly shared: boolean;
}

export interface RadixTree<S> {
  /** Longest cached prefix of `seq` held by a tenant `choose` accepts, trying the deepest matched node first. */
  match(seq: S, choose: Chooser): Match;
  /** Every tenant's longest cached prefix of `seq` (tenants holding none of it are absent). */
  matchEach(seq: S): Map<string, TenantMatch>;
  /** Records that `tenant` now holds `seq`; refreshes the recency of the whole path. */
  insert(seq: S, tenant: string): void;
  /** Elements (edge lengths) of the nodes `tenant` holds. */
  size(tenant: string): number;
  tenants(): IterableIterator<string>;
  /** Drops `tenant`'s least recently used nodes until it holds at most `budget` elements. */
  evict(tenant: string, budget: number): void;
  removeTenant(tenant: string): void;
  /** Nodes in the tree, root excluded. */
  nodeCount(): number;
}

export function createRadixTree<S>(ops: SequenceOps<S>): RadixTree<S> {
  const root: Node<S> = { edge: ops.empty, parent: undefined, children: new Map(), tenants: new Map() };
  const lists = new Map<string, Recency<S>>();
  let nodes = 0;
  // Scratch for match/insert paths, reused across calls (single-threaded).
  const path: Node<S>[] = [];
  const ends: number[] = [];

  const newNode = (edge: S, parent: Node<S>): Node<S> => {
    nodes++;
    return { edge, parent, children: new Map(), tenants: new Map() };
  };

  function unlink(list: Recency<S>, link: Link<S>): void {
    if (link.prev) link.prev.next = link.next;
    else list.head = link.next;
    if (link.next) link.next.prev = link.prev;
    else list.tail = link.prev;
    link.prev = link.next = undefined;
  }

  function insertAfter(list: Recency<S>, link: Link<S>, after: Link<S> | undefined): void {
    link.prev = after;
    link.next = after ? after.next : list.head;
    if (link.next) link.next.prev = link;
    else list.tail = link;
    if (after) after.next = link;
    else list.head = link;
  }

  function dropFromNode(node: Node<S>, tenant: string, list: Recency<S>): void {
    const link = node.tenants.get(tenant);
    if (!link) return;
    node.tenants.delete(tenant);
    unlink(list, link);
    list.size -= ops.length(node.edge);
    // Children go before parents (see the header), so an emptied node is a leaf.
    if (node.tenants.size === 0 && node.children.size === 0 && node.parent) {
      node.parent.children.delete(ops.key(node.edge, 0));
      node.parent = undefined;
      nodes--;
    }
  }

  /** Walks `seq` down the tree into `path` / `ends`; true when the deepest match branches at its end. */
  function walk(seq: S): boolean {
    const total = ops.length(seq);
    let node = root;
    let pos = 0;
    path.length = 0;
    ends.length = 0;
    let midEdge = false;
    while (pos < total) {
      const child = node.children.get(ops.key(seq, pos));
      if (!child) break;
      const common = ops.common(child.edge, seq, pos);
      pos += common;
      path.push(child);
      ends.push(pos);
      if (common < ops.length(child.edge)) {
        midEdge = true;
        break;
      }
      node = child;
    }
    const last = path.length - 1;
    return pos < total && (midEdge || (last >= 0 && (path[last] as Node<S>).children.size > 0));
  }

  return {
    matchEach(seq) {
      const branchesAtEnd = walk(seq);
      const out = new Map<string, TenantMatch>();
      const last = path.length - 1;
      for (let i = last; i >= 0; i--) {
        for (const tenant of (path[i] as Node<S>).tenants.keys()) {
          if (!out.has(tenant)) out.set(tenant, { matched: ends[i] as number, shared: i < last || branchesAtEnd });
        }
      }
      return out;
    },

    match(seq, choose) {
      // Every node above the deepest one has a matched child below it, so the tree branches or goes on
      // there; at the deepest one it does when the edge or the node's children continue past the match.
      const branchesAtEnd = walk(seq);
      const last = path.length - 1;
      for (let i = last; i >= 0; i--) {
        const tenants = (path[i] as Node<S>).tenants;
        if (tenants.size === 0) continue;
        const tenant = choose(tenants.keys(), i < last || branchesAtEnd);
        if (tenant !== undefined) return { matched: ends[i] as number, tenant };
      }
      return { matched: 0, tenant: undefined };
    },

    insert(seq, tenant) {
      const total = ops.length(seq);
      if (total === 0) return;
      let node = root;
      let pos = 0;
      path.length = 0;
      while (pos < total) {
        const key = ops.key(seq, pos);
        let child = node.children.get(key);
        if (!child) {
          child = newNode(ops.copy(seq, pos, total), node);
          node.children.set(key, child);
          path.push(child);
          break;
        }
        const edgeLength = ops.length(child.edge);
        const shared = ops.common(child.edge, seq, pos);
        if (shared < edgeLength) {
          // Split: `mid` takes the shared part and every tenant of `child`, placed right after
          // `child` in each tenant's list: after its descendants, before its ancestors.
          const mid = newNode(ops.copy(child.edge, 0, shared), node);
          child.edge = ops.copy(child.edge, shared, edgeLength);
          child.parent = mid;
          mid.children.set(ops.key(child.edge, 0), child);
          node.children.set(key, mid);
          for (const [t, below] of child.tenants) {
            const link: Link<S> = { node: mid, prev: undefined, next: undefined };
            mid.tenants.set(t, link);
            insertAfter(lists.get(t) as Recency<S>, link, below);
          }
          child = mid;
        }
        path.push(child);
        pos += shared;
        node = child;
      }
      let list = lists.get(tenant);
      if (!list) {
        list = { head: undefined, tail: undefined, size: 0 };
        lists.set(tenant, list);
      }
      for (let i = path.length - 1; i >= 0; i--) {
        const n = path[i] as Node<S>;
        let link = n.tenants.get(tenant);
        if (link) {
          if (link === list.tail) continue;
          unlink(list, link);
        } else {
          link = { node: n, prev: undefined, next: undefined };
          n.tenants.set(tenant, link);
          list.size += ops.length(n.edge);
        }
        insertAfter(list, link, list.tail);
      }
    },

    size: (tenant) => lists.get(tenant)?.size ?? 0,

    tenants: () => lists.keys(),

    evict(tenant, budget) {
      const list = lists.get(tenant);
      while (list && list.size > budget && list.head) dropFromNode(list.head.node, tenant, list);
    },

    removeTenant(tenant) {
      const list = lists.get(tenant);
      if (!list) return;
      while (list.head) dropFromNode(list.head.node, tenant, list);
      lists.delete(tenant);
    },

    nodeCount: () => nodes,
  };
}
