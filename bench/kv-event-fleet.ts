// KV events for the decision benchmark: vLLM-format BlockStored batches (msgpack, the map encoding of vLLM PR
// #42892) for a fleet of endpoints, fed through the router's own decoder, per-endpoint indexes and fleet-wide
// holders, and the reader kv_aware routes on. The same path measures ingest: payload bytes in, index entries out.
import { Packr } from 'msgpackr';
import type { Endpoint } from '../src/core/endpoint.ts';
import { chainRoot } from '../src/pool/block-hash.ts';
import { createKvEventDecoder } from '../src/signals/kv-events/decode.ts';
import { createHolders } from '../src/signals/kv-events/holders.ts';
import { heldByAll, type KvEventsReader } from '../src/signals/kv-events/kv-events.ts';
import { createKvIndex, type KvIndex } from '../src/signals/kv-events/kv-index.ts';
import { mulberry32 } from '../testkit/mulberry32.ts';

const packr = new Packr({ useRecords: false, variableMapSize: true });
/** Blocks per BlockStored event: what one engine step of a long prefill caches. */
export const BLOCKS_PER_EVENT = 128;

/** The batches an engine publishes while it caches `ids` block by block (vLLM's hashes: any distinct 64-bit keys). */
export function storedBatches(ids: Uint32Array, blockSize: number, seed: number): Uint8Array[] {
  const blocks = Math.floor(ids.length / blockSize);
  const rand = mulberry32(seed);
  const hashes = Array.from({ length: blocks }, () => BigInt(Math.floor(rand() * 2 ** 52)) * 4096n + BigInt(Math.floor(rand() * 4096)));
  const out: Uint8Array[] = [];
  for (let from = 0; from < blocks; from += BLOCKS_PER_EVENT) {
    const to = Math.min(blocks, from + BLOCKS_PER_EVENT);
    const event = {
      type: 'BlockStored',
      block_hashes: hashes.slice(from, to),
      parent_block_hash: from === 0 ? null : hashes[from - 1],
      token_ids: Array.from(ids.subarray(from * blockSize, to * blockSize)),
      block_size: blockSize,
      medium: 'GPU',
    };
    out.push(packr.pack([Date.now() / 1000, [event], 0]));
  }
  return out;
}

export interface KvFleet {
  readonly reader: KvEventsReader;
  readonly indexes: ReadonlyMap<string, KvIndex>;
}

/** One index per endpoint; endpoint i is fed the batches `holds(i)` gives it. */
export function kvFleet(endpoints: readonly Endpoint[], blockSize: number, maxEntries: number, holds: (i: number) => readonly Uint8Array[]): KvFleet {
  const decode = createKvEventDecoder();
  const indexes = new Map<string, KvIndex>();
  const holders = createHolders();
  for (const [i, e] of endpoints.entries()) {
    const index = createKvIndex({ blockSize, maxEntries, rootFor: chainRoot, onHolding: holders.listenerFor(e.id) });
    for (const payload of holds(i)) ingest(decode, index, payload);
    indexes.set(e.id, index);
  }
  return {
    indexes,
    reader: { holdings: (id) => indexes.get(id), holdersOf: holders.holdersOf, heldByAll: (hash) => heldByAll(holders.holdersOf(hash), indexes.size), onPurge: () => () => {} },
  };
}

function ingest(decode: ReturnType<typeof createKvEventDecoder>, index: KvIndex, payload: Uint8Array): number {
  const r = decode(payload);
  if (!r.ok) throw new Error(`the router refused a batch the benchmark wrote: ${r.reason}`);
  let blocks = 0;
  for (const e of r.batch.events) if (index.apply(e) === 'applied' && e.kind === 'stored') blocks += e.keys.length;
  return blocks;
}

/** Blocks per second through decode and index, on this thread, for `payloads` into an index of `maxEntries`. */
export function ingestRate(payloads: readonly Uint8Array[], blockSize: number, maxEntries: number): { blocks: number; perSecond: number; bytes: number } {
  const decode = createKvEventDecoder();
  const index = createKvIndex({ blockSize, maxEntries, rootFor: chainRoot });
  const started = performance.now();
  let blocks = 0;
  for (const p of payloads) blocks += ingest(decode, index, p);
  const seconds = (performance.now() - started) / 1000;
  return { blocks, perSecond: blocks / seconds, bytes: payloads.reduce((n, p) => n + p.length, 0) };
}
