import { describe, expect, test } from 'bun:test';
import { createKvCache } from '../kv-cache.ts';

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
});
