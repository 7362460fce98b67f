import { describe, expect, test } from 'bun:test';
import { createKvCache, type KvCacheEvents } from '../kv-cache.ts';

function recorder() {
  const log: unknown[] = [];
  const events: KvCacheEvents = {
    stored: (hashes, parent, tokens) => log.push(['stored', [...hashes], parent, [...tokens]]),
    removed: (hash) => log.push(['removed', hash]),
    cleared: () => log.push(['cleared']),
  };
  return { log, events };
}

describe('KV block pool', () => {
  test('a full block stays findable after its request frees it, until the block is reused', () => {
    const kv = createKvCache(4, 16);
    const [a, b] = kv.allocate(2)!;
    kv.cache(a!, 1n);
    kv.cache(b!, 2n);
    kv.free([a!, b!]);
    expect(kv.numFree()).toBe(4);
    expect(kv.match([1n, 2n, 3n], 10)).toEqual([a!, b!]);
    // Two never-used blocks go first; then the LRU end of the freed ones, the tail block b first.
    kv.allocate(3);
    expect(kv.match([1n, 2n], 10)).toEqual([a!]);
    kv.allocate(1);
    expect(kv.match([1n], 10)).toEqual([]);
    expect(kv.cachedBlocks()).toBe(0);
  });

  test('a hit takes a reference: an idle cached block leaves the free queue, a shared one is counted once', () => {
    const kv = createKvCache(3, 16);
    const [a] = kv.allocate(1)!;
    kv.cache(a!, 7n);
    kv.free([a!]);
    const hit = kv.match([7n], 1);
    expect(kv.countEvictable(hit)).toBe(1);
    kv.touch(hit);
    expect(kv.numFree()).toBe(2);
    expect(kv.countEvictable(hit)).toBe(0);
    kv.touch(hit); // a second request shares it
    kv.free(hit);
    expect(kv.numFree()).toBe(2);
    kv.free(hit);
    expect(kv.numFree()).toBe(3);
    expect(kv.usage()).toBe(0);
  });

  test('allocation fails, without side effects, when too few blocks are free', () => {
    const kv = createKvCache(2, 16);
    kv.allocate(1);
    expect(kv.allocate(2)).toBeNull();
    expect(kv.numFree()).toBe(1);
    expect(kv.usage()).toBe(0.5);
  });

  test('match stops at the first miss and at maxBlocks', () => {
    const kv = createKvCache(8, 16);
    const ids = kv.allocate(3)!;
    ids.forEach((id, i) => kv.cache(id, BigInt(i + 1)));
    expect(kv.match([1n, 2n, 9n, 3n], 10)).toEqual(ids.slice(0, 2));
    expect(kv.match([1n, 2n, 3n], 2)).toEqual(ids.slice(0, 2));
  });

  test('reports each run of full blocks as one stored event chained to the block before it, each eviction, and a reset', () => {
    const r = recorder();
    const kv = createKvCache(3, 2, r.events);
    const tokens = [10, 11, 12, 13, 14, 15];
    const ids = kv.allocate(3)!;
    kv.cacheFull(ids, [1n, 2n, 3n], 0, 2, tokens);
    kv.cacheFull(ids, [1n, 2n, 3n], 2, 3, tokens);
    kv.cacheFull(ids, [1n, 2n, 3n], 3, 3, tokens);
    expect(r.log).toEqual([
      ['stored', [1n, 2n], null, [10, 11, 12, 13]],
      ['stored', [3n], 2n, [14, 15]],
    ]);
    expect(kv.match([1n, 2n, 3n], 3)).toEqual(ids);
    // Held blocks: vLLM refuses to reset.
    expect(kv.reset()).toBe(false);
    kv.free(ids);
    kv.allocate(1);
    // Freed last block first: the tail block (hash 3) is at the head and goes first.
    expect(r.log.at(-1)).toEqual(['removed', 3n]);
    kv.free([ids[2]!]);
    expect(kv.reset()).toBe(true);
    expect(r.log.at(-1)).toEqual(['cleared']);
    expect([kv.cachedBlocks(), kv.match([1n], 1)]).toEqual([0, []]);
    // A block whose hash was cleared is reused without a removal.
    kv.allocate(3);
    expect(r.log.at(-1)).toEqual(['cleared']);
  });

  test('a duplicate copy of a cached block is reported when it is evicted, as vLLM does for every copy', () => {
    const r = recorder();
    const kv = createKvCache(2, 1, r.events);
    const [a, b] = kv.allocate(2)!;
    kv.cacheFull([a!], [9n], 0, 1, [7]);
    kv.cacheFull([b!], [9n], 0, 1, [7]);
    kv.free([a!]);
    kv.free([b!]);
    kv.allocate(2);
    expect(r.log.filter((e) => (e as unknown[])[0] === 'removed')).toEqual([
      ['removed', 9n],
      ['removed', 9n],
    ]);
  });
});
