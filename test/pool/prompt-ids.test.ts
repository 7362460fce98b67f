// A prompt's token ids as the pool hands them to the event loop: a typed array and its protobuf packed varints,
// both views of the one buffer the pool thread transferred, shared with the block hashes cache_aware reads.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { loadGrpcServices } from '../../src/grpc/definitions.ts';
import { withPackedIds, withPackedPayload } from '../../src/grpc/packed-ids.ts';
import { chainBlockHashes } from '../../src/pool/block-hash.ts';
import { TokenizerPool } from '../../src/pool/pool.ts';
import { POOL_THREAD_NICE } from '../../src/pool/thread-priority.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';
import { llamaFiles, llamaTokenizer, ok } from './tokenizer-fixture.ts';

/** Random uint32 ids with both ends of the range and every varint length (1 to 5 bytes). */
function randomIds(count: number, seed: number): number[] {
  const random = mulberry32(seed);
  const edges = [0, 1, 127, 128, 16_383, 16_384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 32 - 2, 2 ** 32 - 1];
  return [...edges, ...Array.from({ length: count }, (_, i) => Math.floor(random() * 2 ** (4 + (i % 5) * 7)))];
}

describe('prompt ids from the pool', () => {
  let pool: TokenizerPool;
  beforeAll(async () => {
    pool = await TokenizerPool.start({ files: llamaFiles(), blockSize: 16, threads: 1 });
  });
  afterAll(() => pool.close());
  const services = loadGrpcServices();
  const engine = services.vllmEngine.service.Generate!;
  const inference = services.inference.service.GenerateStream!;

  test('the packed ids are byte for byte what protobufjs writes for the same ids, on both protocols', async () => {
    for (const seed of [1, 2, 3]) {
      const ids = randomIds(4_000, seed);
      const out = ok(await pool.tokenize({ kind: 'completion', prompt: ids }, { returnIds: true }));
      expect(out.packedIds).toBeInstanceOf(Uint8Array);
      const empty = new Uint8Array(0);
      expect(withPackedPayload(empty, 2, 2, out.packedIds!)).toEqual(engine.requestSerialize({ tokenized: { input_ids: ids } }));
      expect(withPackedPayload(empty, 4, 1, out.packedIds!)).toEqual(inference.requestSerialize({ token_ids: { ids } }));
      // The event loop's own packing (ids given in a request body) writes the same bytes.
      expect(withPackedIds(empty, 2, 2, out.ids!)).toEqual(withPackedPayload(empty, 2, 2, out.packedIds!));
    }
  });

  test('ids, varints and block hashes are views of the one transferred buffer; the hashes are those of the ids', async () => {
    const ids = randomIds(3_000, 7);
    const out = ok(await pool.tokenize({ kind: 'completion', prompt: ids }, { returnIds: true }));
    expect(out.ids).toBeInstanceOf(Uint32Array);
    expect(Array.from(out.ids!)).toEqual(ids);
    expect(out.ids!.buffer).toBe(out.blockHashes.buffer);
    expect(out.packedIds!.buffer).toBe(out.blockHashes.buffer);
    // A request built from them (as a gRPC call does, and again on a retry) leaves the ids and hashes intact.
    const head = engine.requestSerialize({ request_id: 'r', stream: true });
    const first = withPackedPayload(head, 2, 2, out.packedIds!);
    const again = withPackedPayload(head, 2, 2, out.packedIds!);
    expect(again).toEqual(first);
    expect((engine.requestDeserialize(first) as { tokenized: { input_ids: number[] } }).tokenized.input_ids).toEqual(ids);
    expect(Array.from(out.ids!)).toEqual(ids);
    expect(Array.from(out.blockHashes)).toEqual(Array.from(chainBlockHashes(ids, 16)));
  });

  test('a tokenized chat: the ids are the tokenizer’s, and without returnIds nothing but the hashes comes back', async () => {
    const text = 'The history of the Rhine valley begins long before the Romans. '.repeat(500);
    const out = ok(await pool.tokenize({ kind: 'completion', prompt: text }, { returnIds: true }));
    const expected = llamaTokenizer().encode(text).ids;
    expect(Array.from(out.ids!)).toEqual(expected);
    expect(engine.requestDeserialize(withPackedPayload(new Uint8Array(0), 2, 2, out.packedIds!))).toMatchObject({ tokenized: { input_ids: expected } });
    const hashesOnly = ok(await pool.tokenize({ kind: 'completion', prompt: text }));
    expect(hashesOnly.ids).toBeUndefined();
    expect(hashesOnly.packedIds).toBeUndefined();
    expect(Array.from(hashesOnly.blockHashes)).toEqual(Array.from(out.blockHashes));
  });
});

/** This process's threads: id, name and nice value (Linux /proc). */
function threads(): { tid: number; name: string; nice: number }[] {
  return readdirSync(`/proc/${process.pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
    // The name is in parentheses and may hold spaces; nice is the 17th field after it.
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    return { tid: Number(tid), name, nice: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) };
  });
}

describe.skipIf(process.platform !== 'linux')('pool thread priority', () => {
  test('pool threads run below the event loop (nice per thread); the event loop keeps its priority', async () => {
    const before = new Set(threads().map((t) => t.tid));
    await using pool = await TokenizerPool.start({ files: llamaFiles(), blockSize: 16, threads: 2 });
    const workers = threads().filter((t) => !before.has(t.tid) && t.name === 'Worker');
    expect(workers.map((t) => t.nice)).toEqual([POOL_THREAD_NICE, POOL_THREAD_NICE]);
    expect(threads().find((t) => t.tid === process.pid)?.nice).toBe(0);
    expect(pool.info?.warnings.some((w) => w.includes('CPU priority'))).toBe(false);
  });
});
