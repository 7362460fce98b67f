// A gRPC engine's KV-event feed against a real stand-in (SubscribeKvEvents over HTTP/2) and the engine client:
// int64 block hashes stay exact (two hashes that differ past 2^53 are two blocks), an adapter named only by number
// is skipped and counted, a batch of another rank is skipped.
import { describe, expect, test } from 'bun:test';
import { Server, ServerCredentials, type ServerWritableStream } from '@grpc/grpc-js';
import { chainBlockHashes, chainRoot } from '../../../src/pool/block-hash.ts';
import { loadGrpcServices } from '../../../src/grpc/definitions.ts';
import { createGrpcEngineClient } from '../../../src/grpc/engine-client.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { startGrpcKvFeed } from '../../../src/signals/kv-events/grpc-kv-feed.ts';
import { createKvIndex } from '../../../src/signals/kv-events/kv-index.ts';
import { countingKvRecorder } from '../../../testkit/kv-feed-counts.ts';
import { until } from '../../../testkit/until.ts';

const BS = 4;
type Msg = Record<string, unknown>;

async function engineSending(batches: Msg[]) {
  const services = loadGrpcServices();
  const server = new Server();
  server.addService(services.vllmEngine.service, {
    SubscribeKvEvents: (call: ServerWritableStream<Msg, Msg>) => {
      for (const b of batches) call.write(b);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const client = createGrpcEngineClient(`grpc://127.0.0.1:${port}`, { services, protocol: 'vllm-engine' });
  return { client, [Symbol.dispose]: () => (client.close(), server.forceShutdown()) };
}

const block = (hash: string, tokens: number[], extra: Msg = {}) => ({ block_hash: hash, token_ids: tokens, block_size: BS, ...extra });

describe('gRPC KV-event feed', () => {
  test('int64 hashes beyond 2^53 stay distinct; lora_id and other ranks are skipped and counted', async () => {
    // Two hashes that are the same number once rounded to a double: as numbers, the second store would look like a
    // re-announcement of the first and the removal of one would drop both.
    const h1 = '9007199254740993';
    const h2 = '9007199254740992';
    using engine = await engineSending([
      { sequence_number: 5, events: [{ event_id: 1, stored: { blocks: [block(h1, [1, 2, 3, 4])] } }] },
      { sequence_number: 6, events: [{ event_id: 2, stored: { blocks: [block(h2, [5, 6, 7, 8])] } }] },
      { sequence_number: 7, events: [{ event_id: 3, removed: { block_hashes: [h2] } }] },
      { sequence_number: 8, events: [{ event_id: 4, stored: { blocks: [block('11', [9, 9, 9, 9], { lora_id: 3 })] } }] },
      { sequence_number: 9, dp_rank: 1, events: [{ event_id: 5, stored: { blocks: [block('12', [8, 8, 8, 8])] } }] },
    ]);
    const index = createKvIndex({ blockSize: BS, maxEntries: 100, rootFor: chainRoot });
    const { counts, recorder } = countingKvRecorder();
    await using _feed = startGrpcKvFeed({ endpoint: 'e', subscribe: (h) => engine.client.kvEvents(h), index, recorder, log: createLogger({ level: 'error', json: true }) });
    await until(() => counts.batches === 4);
    const [first] = chainBlockHashes([1, 2, 3, 4], BS, chainRoot(undefined, undefined));
    const [second] = chainBlockHashes([5, 6, 7, 8], BS, chainRoot(undefined, undefined));
    expect(index.stateOf(first!)).toBe('gpu');
    expect(index.stateOf(second!)).toBe('removed');
    expect(index.stats().blocks).toBe(1);
    expect(counts).toMatchObject({ skipped_lora_id: 1, skipped_dp_rank: 1 });
    expect(counts.gaps).toBeUndefined();
  });
});
