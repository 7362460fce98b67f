import { describe, expect, test } from 'bun:test';
import { createRadixTree, hashOps, stringOps } from '../../src/policies/radix-tree.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';

const any = (tenants: Iterable<string>): string | undefined => tenants[Symbol.iterator]().next().value;
/** A chooser that accepts only `tenant`. */
const only = (tenant: string) => (tenants: Iterable<string>) => ([...tenants].includes(tenant) ? tenant : undefined);

describe('radix tree over characters', () => {
  test('matches the longest cached prefix, inside an edge too', () => {
    const tree = createRadixTree(stringOps);
    tree.insert('hello world', 'a');
    expect(tree.match('hello world', any)).toEqual({ matched: 11, tenant: 'a' });
    expect(tree.match('hello there', any)).toEqual({ matched: 6, tenant: 'a' });
    expect(tree.match('goodbye', any)).toEqual({ matched: 0, tenant: undefined });
  });

  test('a split keeps both tenants and sizes count each character once per tenant', () => {
    const tree = createRadixTree(stringOps);
    tree.insert('hello world', 'a');
    tree.insert('hello there', 'b');
    expect(tree.size('a')).toBe(11);
    expect(tree.size('b')).toBe(11);
    expect(tree.match('hello world!', only('b'))).toEqual({ matched: 6, tenant: 'b' });
    expect(tree.match('hello world!', only('a'))).toEqual({ matched: 11, tenant: 'a' });
    expect(tree.nodeCount()).toBe(3);
  });

  test('eviction drops the least recently used leaves first and keeps shared prefixes', () => {
    const tree = createRadixTree(stringOps);
    tree.insert('system: be brief. question one', 'a');
    tree.insert('system: be brief. question two', 'a');
    tree.insert('unrelated text', 'a');
    tree.insert('system: be brief. question two', 'a'); // refresh
    tree.evict('a', 30);
    expect(tree.size('a')).toBeLessThanOrEqual(30);
    expect(tree.match('system: be brief. question two', any).matched).toBe(30);
    expect(tree.match('unrelated text', any).matched).toBe(0);
  });

  test('removing a tenant prunes nodes nobody else holds', () => {
    const tree = createRadixTree(stringOps);
    tree.insert('abcdef', 'a');
    tree.insert('abcxyz', 'b');
    tree.removeTenant('a');
    expect([...tree.tenants()]).toEqual(['b']);
    expect(tree.match('abcdef', any)).toEqual({ matched: 3, tenant: 'b' });
    tree.removeTenant('b');
    expect(tree.nodeCount()).toBe(0);
  });

  test("random inserts and evictions keep every node's tenants within its parent's", () => {
    const rand = mulberry32(9);
    const tree = createRadixTree(stringOps);
    const words = ['alpha ', 'beta ', 'gamma ', 'delta '];
    const tenants = ['a', 'b', 'c'];
    for (let i = 0; i < 2000; i++) {
      let text = '';
      for (let w = 0; w < 1 + Math.floor(rand() * 6); w++) text += words[Math.floor(rand() * words.length)];
      tree.insert(text, tenants[Math.floor(rand() * tenants.length)] as string);
      if (i % 50 === 0) for (const t of tenants) tree.evict(t, 40);
      // Subset property, observed through match: a deeper match for a tenant implies it holds the prefix.
      for (const t of tenants) {
        const { matched } = tree.match(text, only(t));
        if (matched > 0) expect(tree.match(text.slice(0, matched), only(t)).matched).toBe(matched);
      }
    }
    for (const t of tenants) {
      tree.evict(t, 40);
      expect(tree.size(t)).toBeLessThanOrEqual(40);
    }
    for (const t of tenants) tree.removeTenant(t);
    expect(tree.nodeCount()).toBe(0);
  });

  test('stored edges do not pin the whole input string', () => {
    const tree = createRadixTree(stringOps);
    const big = 'x'.repeat(100_000);
    tree.insert(big, 'a');
    tree.insert(`${big.slice(0, 99_990)}tail-of-a-new-prompt`, 'b');
    expect(tree.match(`${big.slice(0, 99_990)}tail-of-a-new-prompt`, only('b')).matched).toBe(100_010);
  });
});

describe('radix tree over block hashes', () => {
  test('matches block hash prefixes', () => {
    const tree = createRadixTree(hashOps);
    tree.insert(Float64Array.of(1, 2, 3, 4), 'a');
    tree.insert(Float64Array.of(1, 2, 9), 'b');
    expect(tree.match(Float64Array.of(1, 2, 3, 7), any)).toEqual({ matched: 3, tenant: 'a' });
    expect(tree.match(Float64Array.of(1, 2, 9, 9), only('b'))).toEqual({ matched: 3, tenant: 'b' });
    expect(tree.size('a')).toBe(4);
    expect(tree.size('b')).toBe(3);
  });
});
