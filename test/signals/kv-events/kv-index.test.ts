// The per-engine index of KV events: token content chained with the router's own hash, vLLM's hash only as a name.
import { describe, expect, test } from 'bun:test';
import { chainBlockHashes, chainRoot } from '../../../src/pool/block-hash.ts';
import type { StoredEvent } from '../../../src/signals/kv-events/decode.ts';
import { createHolders, holds } from '../../../src/signals/kv-events/holders.ts';
import { createKvIndex } from '../../../src/signals/kv-events/kv-index.ts';

const BS = 4;
const tokens = (n: number, from = 1) => Array.from({ length: n }, (_, i) => from + i);
const index = (maxEntries = 1000) => createKvIndex({ blockSize: BS, maxEntries, rootFor: chainRoot });
const stored = (keys: string[], parent: string | undefined, ids: number[], extra: Partial<StoredEvent> = {}): StoredEvent => ({
  kind: 'stored',
  keys,
  parent,
  tokenIds: ids,
  blockSize: BS,
  loraName: undefined,
  medium: undefined,
  extraKeys: undefined,
  groupIdx: 0,
  ...extra,
});
/** The request's chain, as the tokenizer pool computes it. */
const chain = (ids: number[], lora?: string) => [...chainBlockHashes(ids, BS, chainRoot(lora))];

describe('KV index', () => {
  test("a stored chain matches the request's own block hashes, whatever vLLM's hashes are", () => {
    const ix = index();
    const ids = tokens(12);
    expect(ix.apply(stored(['9001', '9002'], undefined, ids.slice(0, 8)))).toBe('applied');
    expect(ix.apply(stored(['9003'], '9002', ids.slice(8, 12)))).toBe('applied');
    expect(chain(ids).map((h) => ix.stateOf(h))).toEqual(['gpu', 'gpu', 'gpu']);
    // Other tokens do not match, nor do the same tokens at another position.
    expect(chain(tokens(12, 100)).map((h) => ix.stateOf(h))).toEqual(['silent', 'silent', 'silent']);
    expect(chain(ids.slice(4)).map((h) => ix.stateOf(h))).toEqual(['silent', 'silent']);
  });

  test('a removed block is removed (not silent: the guess must not bring it back); stored again, it is back', () => {
    const ix = index();
    const ids = tokens(8);
    ix.apply(stored(['1', '2'], undefined, ids));
    ix.apply({ kind: 'removed', keys: ['2'], medium: undefined, groupIdx: 0 });
    expect(chain(ids).map((h) => ix.stateOf(h))).toEqual(['gpu', 'removed']);
    ix.apply(stored(['2b'], '1', ids.slice(4)));
    expect(chain(ids).map((h) => ix.stateOf(h))).toEqual(['gpu', 'gpu']);
    expect(ix.stats().blocks).toBe(2);
  });

  test('CPU copies count apart from GPU ones: removing the GPU copy leaves the CPU one', () => {
    const ix = index();
    const ids = tokens(4);
    ix.apply(stored(['1'], undefined, ids));
    ix.apply(stored(['1'], undefined, ids, { medium: 'CPU' }));
    ix.apply({ kind: 'removed', keys: ['1'], medium: 'GPU', groupIdx: 0 });
    expect(ix.stateOf(chain(ids)[0]!)).toBe('cpu');
    ix.apply({ kind: 'removed', keys: ['1'], medium: 'CPU', groupIdx: 0 });
    expect(ix.stateOf(chain(ids)[0]!)).toBe('removed');
  });

  test('a block whose parent was never seen is kept, unmatched, and matches once its chain is learned', () => {
    const ix = index();
    const ids = tokens(12);
    // The system prompt's blocks were stored before the router listened; their children arrive first.
    ix.apply(stored(['c1', 'c2'], 'p2', ids.slice(4, 12)));
    expect(ix.stats()).toEqual({ blocks: 2, orphans: 2 });
    expect(chain(ids).map((h) => ix.stateOf(h))).toEqual(['silent', 'silent', 'silent']);
    // A replay brings the parent: the children's chain is now known.
    ix.apply(stored(['p2'], undefined, ids.slice(0, 4)));
    expect(ix.stats()).toEqual({ blocks: 3, orphans: 0 });
    expect(chain(ids).map((h) => ix.stateOf(h))).toEqual(['gpu', 'gpu', 'gpu']);
  });

  test('a LoRA adapter has its own chain: its blocks match requests for that adapter only', () => {
    const ix = index();
    const ids = tokens(8);
    ix.apply(stored(['l1', 'l2'], undefined, ids, { loraName: 'sql', extraKeys: [['sql'], ['sql']] }));
    expect(chain(ids, 'sql').map((h) => ix.stateOf(h))).toEqual(['gpu', 'gpu']);
    expect(chain(ids).map((h) => ix.stateOf(h))).toEqual(['silent', 'silent']);
  });

  test('what the router cannot reproduce is skipped: another block size, another group, multimodal keys', () => {
    const ix = index();
    expect(ix.apply(stored(['1'], undefined, tokens(8), { blockSize: 8 }))).toBe('skipped');
    expect(ix.apply(stored(['1'], undefined, tokens(4), { groupIdx: 1 }))).toBe('skipped');
    expect(ix.apply(stored(['1'], undefined, tokens(4), { extraKeys: [[['image-hash', 0]]] }))).toBe('skipped');
    expect(ix.stats().blocks).toBe(0);
  });

  test('the budget holds: past --kv-index-max-entries the oldest blocks go', () => {
    const ix = index(100);
    for (let i = 0; i < 1000; i++) ix.apply(stored([`k${i}`], undefined, tokens(4, i * 4)));
    expect(ix.stats().blocks).toBe(100);
    expect(ix.stateOf(chain(tokens(4, 999 * 4))[0]!)).toBe('gpu');
    expect(ix.stateOf(chain(tokens(4, 0))[0]!)).toBe('silent');
  });

  test('AllBlocksCleared and purge forget everything', () => {
    const ix = index();
    ix.apply(stored(['1'], undefined, tokens(4)));
    ix.apply({ kind: 'cleared' });
    expect(ix.stats().blocks).toBe(0);
    expect(ix.stateOf(chain(tokens(4))[0]!)).toBe('silent');
  });
});

describe("the fleet's holders", () => {
  test('an endpoint is a holder of a block exactly while its index says gpu or cpu: stores, copies, removals, eviction, purge', () => {
    const holders = createHolders();
    const a = createKvIndex({ blockSize: BS, maxEntries: 3, rootFor: chainRoot, onHolding: holders.listenerFor('a') });
    const b = createKvIndex({ blockSize: BS, maxEntries: 1000, rootFor: chainRoot, onHolding: holders.listenerFor('b') });
    const ids = tokens(8);
    const [h0, h1] = chain(ids) as [number, number];
    const of = (h: number) => ['a', 'b'].filter((id) => holds(holders.holdersOf(h), id));
    a.apply(stored(['1', '2'], undefined, ids));
    b.apply(stored(['7'], undefined, ids.slice(0, 4)));
    expect([of(h0), of(h1)]).toEqual([['a', 'b'], ['a']]);
    // A CPU copy next to the GPU one, then the GPU one goes: still held.
    a.apply(stored(['2'], '1', ids.slice(4), { medium: 'CPU' }));
    a.apply({ kind: 'removed', keys: ['2'], medium: 'GPU', groupIdx: 0 });
    expect(of(h1)).toEqual(['a']);
    a.apply({ kind: 'removed', keys: ['2'], medium: 'CPU', groupIdx: 0 });
    expect(of(h1)).toEqual([]);
    // Past its budget of 3 the index drops its oldest block, and is no longer its holder.
    a.apply(stored(['3', '4', '5'], undefined, tokens(12, 50)));
    expect(of(h0)).toEqual(['b']);
    for (const h of chain(tokens(12, 50))) expect(of(h)).toEqual(['a']);
    b.purge();
    expect(of(h0)).toEqual([]);
    a.apply({ kind: 'cleared' });
    for (const h of chain(tokens(12, 50))) expect(of(h)).toEqual([]);
  });
});
