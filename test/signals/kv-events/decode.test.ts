// vLLM KV-event batches in both encodings; and what a hostile publisher may send instead.
import { describe, expect, test } from 'bun:test';
import { Packr } from 'msgpackr';
import { createKvEventDecoder } from '../../../src/signals/kv-events/decode.ts';

const pack = (v: unknown) => new Packr({ useRecords: false }).pack(v);
const decode = createKvEventDecoder();

describe('KV event decoding', () => {
  test('tagged arrays (vLLM before PR #42892) and maps with omitted defaults (after) give the same events', () => {
    const asArray = decode(pack([1.5, [['BlockStored', [1, 2], null, Array(32).fill(7), 16, null, 'GPU'], ['BlockRemoved', [2], 'GPU'], ['AllBlocksCleared']], 3]));
    const asMap = decode(pack([1.5, [{ type: 'BlockStored', block_hashes: [1, 2], token_ids: Array(32).fill(7), block_size: 16, medium: 'GPU' }, { type: 'BlockRemoved', block_hashes: [2], medium: 'GPU' }, { type: 'AllBlocksCleared' }], 3]));
    expect(asArray).toEqual(asMap);
    expect(asArray.ok && asArray.batch).toMatchObject({ ts: 1.5, dpRank: 3, unknown: 0, malformed: 0 });
    expect(asArray.ok && asArray.batch.events.map((e) => e.kind)).toEqual(['stored', 'removed', 'cleared']);
  });

  test('integer hashes of any size and byte hashes become distinct keys', () => {
    const big = 2n ** 64n - 1n;
    const r = decode(pack({ ts: 0, events: [['BlockStored', [big, 5, new Uint8Array([1, 2])], null, Array(48).fill(1), 16, null, null]], data_parallel_rank: 0 }));
    expect(r.ok && r.batch.events[0]).toMatchObject({ keys: ['18446744073709551615', '5', 'b:0102'] });
  });

  test('unknown event types and wrong fields are counted and skipped, the rest kept', () => {
    const r = decode(pack([0, [['BlockStored', [1], null, [1, 2], 16, null, null], ['Future', 1], { type: 'BlockRemoved', block_hashes: ['x'] }, ['BlockRemoved', [3], null]], 0]));
    expect(r.ok && r.batch).toMatchObject({ unknown: 1, malformed: 2 });
    expect(r.ok && r.batch.events).toHaveLength(1);
  });

  test('bombs and garbage are refused as values, never thrown', () => {
    for (const payload of [
      new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff]), // an array claiming 4 billion entries
      new Uint8Array([0xdb, 0x7f, 0xff, 0xff, 0xff, 0x61]), // a 2 GiB string
      new Uint8Array(100_000).fill(0x91), // 100k nested arrays
      new TextEncoder().encode('plain text'),
      pack('a string'),
      pack([0, 'not a list', 0]),
    ])
      expect(decode(payload).ok).toBe(false);
  });
});
