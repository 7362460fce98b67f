// What the QoE predictor is told each endpoint holds of a prompt: the router's own prefix tree (characters
// or token blocks), and the engines' KV events where they speak.
import { describe, expect, test } from 'bun:test';
import { alwaysClosed } from '../../src/core/circuit-breaker.ts';
import { createEndpoint } from '../../src/core/endpoint.ts';
import { CHARS_PER_TOKEN, createPrefixAffinity } from '../../src/policies/qoe/prefix-affinity.ts';
import type { BlockState } from '../../src/signals/kv-events/kv-index.ts';
import type { KvEventsReader } from '../../src/signals/kv-events/kv-events.ts';
import { request } from '../policies/routing-fixtures.ts';

const [a, b] = [createEndpoint({ url: 'http://a:1' }, alwaysClosed()), createEndpoint({ url: 'http://b:1' }, alwaysClosed())];
const blocks = (...hashes: number[]) => ({ ...request({ text: 'x'.repeat(hashes.length * 16 * CHARS_PER_TOKEN) }), blockHashes: Float64Array.from(hashes) });

describe('prefix affinity', () => {
  test('characters: what was sent to an endpoint is cached there, in estimated tokens', () => {
    using affinity = disposable(createPrefixAffinity({ blockSize: undefined, maxTreeSize: 1 << 20, evictionIntervalMs: 60_000 }));
    const doc = 'd'.repeat(4000);
    affinity.record(request({ text: doc }), a.id);
    const cache = affinity.lookup(request({ text: `${doc}${'q'.repeat(400)}` }), [a, b]);
    expect(cache.promptTokens).toBe(4400 / CHARS_PER_TOKEN);
    expect(cache.cachedTokens(a.id)).toBe(4000 / CHARS_PER_TOKEN);
    expect(cache.cachedTokens(b.id)).toBe(0);
    // An endpoint that left the pool holds nothing any more.
    affinity.retain(new Set([b.id]));
    expect(affinity.lookup(request({ text: doc }), [a, b]).cachedTokens(a.id)).toBe(0);
  });

  test('token blocks: the tree counts whole blocks, and KV events overrule it where they speak', () => {
    const events = new Map<string, Map<number, BlockState>>();
    let purge: ((id: string) => void) | undefined;
    const kvEvents: KvEventsReader = {
      holdings: (id) => {
        const held = events.get(id);
        return held === undefined ? undefined : { stateOf: (h) => held.get(h) ?? 'silent' };
      },
      // The QoE affinity asks each candidate's holdings; the fleet-wide lookups are kv_aware's.
      holdersOf: () => undefined,
      heldByAll: () => false,
      onPurge: (listener) => {
        purge = listener;
        return () => (purge = undefined);
      },
    };
    using affinity = disposable(createPrefixAffinity({ blockSize: 16, maxTreeSize: 1 << 20, evictionIntervalMs: 60_000, kvEvents }));
    affinity.record(blocks(1, 2, 3, 4), a.id);
    // No events from either engine: the tree decides.
    let cache = affinity.lookup(blocks(1, 2, 3, 4, 5), [a, b]);
    expect(cache.cachedTokens(a.id)).toBe(64);
    // a's engine evicted block 3 (its events say so); b's engine holds 1 and 2 on the GPU and 3 on the CPU.
    events.set(a.id, new Map([[3, 'removed']]));
    events.set(b.id, new Map<number, BlockState>([[1, 'gpu'], [2, 'gpu'], [3, 'cpu']]));
    cache = affinity.lookup(blocks(1, 2, 3, 4, 5), [a, b]);
    expect(cache.cachedTokens(a.id)).toBe(32);
    // A CPU copy saves half a prefill.
    expect(cache.cachedTokens(b.id)).toBe(40);
    // a's events were purged (its engine restarted): the tree forgets what it guessed there too.
    events.delete(a.id);
    purge?.(a.id);
    expect(affinity.lookup(blocks(1, 2, 3, 4), [a, b]).cachedTokens(a.id)).toBe(0);
  });
});

function disposable<T extends { dispose(): void }>(x: T): T & Disposable {
  return Object.assign(x, { [Symbol.dispose]: () => x.dispose() });
}
