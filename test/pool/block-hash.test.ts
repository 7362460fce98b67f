import { describe, expect, test } from 'bun:test';
import { chainBlockHashes, HASH_BITS, rootHash } from '../../src/pool/block-hash.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';

function tokens(count: number, rand: () => number): number[] {
  return Array.from({ length: count }, () => Math.floor(rand() * 128_000));
}

function commonPrefix(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

describe('chained block hashes', () => {
  test('hash only full blocks: a partial last block gets no hash', () => {
    expect(chainBlockHashes(tokens(15, mulberry32(1)), 16).length).toBe(0);
    expect(chainBlockHashes(tokens(16, mulberry32(1)), 16).length).toBe(1);
    expect(chainBlockHashes(tokens(47, mulberry32(1)), 16).length).toBe(2);
  });

  test('every hash is a non-negative integer below 2^52, exact in a double', () => {
    for (const h of chainBlockHashes(tokens(4096, mulberry32(2)), 16)) {
      expect(Number.isSafeInteger(h)).toBe(true);
      expect(h).toBeGreaterThanOrEqual(0);
      expect(h).toBeLessThan(2 ** HASH_BITS);
    }
  });

  test('two prompts share hash prefixes exactly when they share token-block prefixes', () => {
    const rand = mulberry32(3);
    for (let trial = 0; trial < 300; trial++) {
      const blockSize = [1, 4, 16, 32][trial % 4] as number;
      const base = tokens(Math.floor(rand() * 400), rand);
      const keep = Math.floor(rand() * (base.length + 1));
      const other = [...base.slice(0, keep), ...tokens(Math.floor(rand() * 300), rand)];
      const a = chainBlockHashes(base, blockSize);
      const b = chainBlockHashes(other, blockSize);
      const sharedBlocks = Math.floor(commonPrefix(base, other) / blockSize);
      const sharedHashes = commonPrefix(a, b);
      // Hashes agree on exactly the full blocks both prompts hold in common…
      expect(sharedHashes).toBe(Math.min(sharedBlocks, a.length, b.length));
      // …and once they differ, every later hash differs too (the chain carries the divergence).
      for (let i = sharedHashes; i < Math.min(a.length, b.length); i++) expect(a[i]).not.toBe(b[i]);
    }
  });

  test('a change in one token changes that block and every block after it', () => {
    const ids = tokens(160, mulberry32(4));
    const changed = [...ids];
    changed[37] = (changed[37] as number) + 1;
    const a = chainBlockHashes(ids, 16);
    const b = chainBlockHashes(changed, 16);
    expect(Array.from(a.slice(0, 2))).toEqual(Array.from(b.slice(0, 2)));
    for (let i = 2; i < a.length; i++) expect(a[i]).not.toBe(b[i]);
  });

  test('a cache salt gives a separate chain, like vLLM cache_salt', () => {
    const ids = tokens(64, mulberry32(5));
    const plain = chainBlockHashes(ids, 16);
    const salted = chainBlockHashes(ids, 16, rootHash('tenant-a'));
    expect(Array.from(chainBlockHashes(ids, 16, rootHash()))).toEqual(Array.from(plain));
    for (let i = 0; i < plain.length; i++) expect(salted[i]).not.toBe(plain[i]);
    expect(Array.from(chainBlockHashes(ids, 16, rootHash('tenant-a')))).toEqual(Array.from(salted));
  });

  test('Uint32Array and number[] inputs hash the same', () => {
    const ids = tokens(100, mulberry32(6));
    expect(Array.from(chainBlockHashes(Uint32Array.from(ids), 8))).toEqual(Array.from(chainBlockHashes(ids, 8)));
  });

  test('rejects a block size that is not a positive integer', () => {
    expect(() => chainBlockHashes([1, 2, 3], 0)).toThrow(/block size/);
    expect(() => chainBlockHashes([1, 2, 3], 1.5)).toThrow(/block size/);
  });
});
