// The router's own KV-event consumer (src/signals/kv-events: SUB feed, replay on connect, index) on a simulated
// engine's stream: what the simulator publishes is what kv_aware routing reads.
import { describe, expect, test } from 'bun:test';
import { createLogger } from '../../../src/log/logger.ts';
import { chainBlockHashes, chainRoot } from '../../../src/pool/block-hash.ts';
import { startKvFeed } from '../../../src/signals/kv-events/kv-feed.ts';
import { createKvIndex, type KvIndex } from '../../../src/signals/kv-events/kv-index.ts';
import { until } from '../../../testkit/until.ts';
import type { BlockHashFormat, KvEventEncoding } from '../kv-events/event-batch.ts';
import { startSimEngine, type SimEngine } from '../sim-engine.ts';
import { dialable } from './kv-events-peer.ts';
import { countingKvRecorder } from '../../../testkit/kv-feed-counts.ts';

const BS = 4;
const FAST = { stepBaseMs: 1, prefillMsPerToken: 0.01, decodeMsPerSeq: 0, attentionMsPerKTokens: 0, blockSize: BS, kvBlocks: 6 };
/** `n` token ids of its own for each prefix. */
const words = (prefix: string, n: number): number[] => {
  const base = 1000 + (Bun.hash.xxHash32(prefix) % 100_000);
  return Array.from({ length: n }, (_, i) => base + i);
};
/** What the router's index says of each full block of a prompt. */
const states = (index: KvIndex, prompt: number[]) => [...chainBlockHashes(Uint32Array.from(prompt), BS, chainRoot())].map((h) => index.stateOf(h));

async function complete(engine: SimEngine, prompt: number[]): Promise<void> {
  const res = await fetch(`${engine.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt, max_tokens: 1 }) });
  await res.text();
}

function routerFeed(engine: SimEngine) {
  const { counts, recorder } = countingKvRecorder();
  const index = createKvIndex({ blockSize: BS, maxEntries: 10_000, rootFor: chainRoot });
  const { endpoint, replayEndpoint } = engine.kvEvents()!;
  const feed = startKvFeed({
    endpoint: engine.url,
    pub: dialable(endpoint),
    replay: dialable(replayEndpoint!),
    topic: 'kv',
    index,
    recorder,
    log: createLogger({ level: 'error', json: true, write: () => {} }),
    reconnect: { initialMs: 20, maxMs: 200 },
  });
  return { feed, index, counts };
}

describe("the router's KV-event feed on a simulated engine", () => {
  test.each([
    ['array', 'int'],
    ['map', 'bytes'],
  ] as const)('replays what came before it, then follows stores, evictions and a reset (%s encoding, %s hashes)', async (encoding: KvEventEncoding, blockHashes: BlockHashFormat) => {
    await using engine = await startSimEngine({
      params: FAST,
      kvEvents: { encoding, blockHashes, config: { endpoint: 'tcp://*:0', replayEndpoint: 'tcp://*:0', topic: 'kv', bufferSteps: 100, hwm: 1000 } },
    });
    const early = words('a', 8);
    await complete(engine, early);
    await until(() => engine.kvEvents()!.batches === 1, 'the first batch');

    // Connecting, the feed asks the replay socket for everything buffered: the block stored before it is known.
    const { feed, index, counts } = routerFeed(engine);
    await using _feed = feed;
    await until(() => states(index, early).join() === 'gpu,gpu', 'the replayed blocks in the index');
    expect(counts.replay_completed).toBe(1);

    // 6 blocks in all: 20 tokens need 5, evicting the first prompt's tail block.
    const late = words('b', 20);
    await complete(engine, late);
    await until(() => states(index, late).every((s) => s === 'gpu'), 'the live blocks in the index');
    expect(states(index, early)).toEqual(['gpu', 'removed']);

    await fetch(`${engine.url}/reset_prefix_cache`, { method: 'POST' });
    await complete(engine, early);
    await until(() => (counts.purge_cleared ?? 0) === 1 && states(index, early).join() === 'gpu,gpu', 'the reset and the blocks stored after it');
    expect(states(index, late).every((s) => s !== 'gpu')).toBe(true);
    expect([counts.malformed, counts.skipped_malformed_event, counts.skipped_block_size, counts.gaps]).toEqual([undefined, undefined, undefined, undefined]);
  });
});
