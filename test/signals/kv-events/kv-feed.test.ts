// One engine's KV-event feed against a real libzmq publisher that behaves as vLLM's ZmqEventPublisher:
// both encodings, integer and byte hashes, replay on connect and on a gap, publisher restarts, bad frames.
import { describe, expect, test } from 'bun:test';
import { createLogger } from '../../../src/log/logger.ts';
import { chainBlockHashes, chainRoot } from '../../../src/pool/block-hash.ts';
import { createKvIndex, type KvIndex } from '../../../src/signals/kv-events/kv-index.ts';
import { startKvFeed } from '../../../src/signals/kv-events/kv-feed.ts';
import { until } from '../../../testkit/until.ts';
import { cleared, KvPublisher, removed, stored } from './python-publisher.ts';
import { countingKvRecorder } from '../../../testkit/kv-feed-counts.ts';

const tokens = (n: number, from = 1) => Array.from({ length: n }, (_, i) => from + i);
const chain = (ids: number[]) => [...chainBlockHashes(ids, 16, chainRoot())];
const states = (ix: KvIndex, ids: number[]) => chain(ids).map((h) => ix.stateOf(h));

async function feedOn(publisher: KvPublisher, withReplay = true) {
  const { pub, replay } = await publisher.ports();
  const index = createKvIndex({ blockSize: 16, maxEntries: 10_000, rootFor: chainRoot });
  const { counts, recorder } = countingKvRecorder();
  let purged = 0;
  const feed = startKvFeed({
    endpoint: 'e1',
    pub,
    replay: withReplay ? replay : undefined,
    topic: '',
    index,
    recorder,
    log: createLogger({ level: 'error', json: true, write: () => {} }),
    onPurged: () => purged++,
    reconnect: { initialMs: 20, maxMs: 200 },
  });
  await until(() => feed.connected, 'the feed to connect');
  // Connecting ends with a replay of everything buffered (here: nothing yet, or what was published before).
  await until(() => (counts.replay_completed ?? 0) >= 1 || !withReplay, 'the connect replay to end');
  return { feed, index, counts, purged: () => purged };
}

describe('KV event feed (libzmq publisher)', () => {
  test('tagged arrays with integer hashes (up to 64 bits) and maps with byte hashes both index the blocks', async () => {
    await using publisher = await KvPublisher.start();
    const { feed, index } = await feedOn(publisher);
    await using _f = feed;
    const a = tokens(32);
    const b = tokens(32, 1000);
    await publisher.publish([stored([2n ** 63n + 7n, 12], null, a)], { encoding: 'array' });
    await publisher.publish([stored([{ bytes: 'ab'.repeat(16) }, { bytes: 'cd'.repeat(16) }], null, b, { group_idx: 0 })], { encoding: 'map', batch: 'map' });
    await until(() => states(index, a).every((s) => s === 'gpu') && states(index, b).every((s) => s === 'gpu'), 'both batches to be indexed');
    expect(feed.lastSeq).toBe(1n);
  });

  test('BlockRemoved takes a block out, AllBlocksCleared empties the index and says so', async () => {
    await using publisher = await KvPublisher.start();
    const { feed, index, counts, purged } = await feedOn(publisher);
    await using _f = feed;
    const ids = tokens(32);
    await publisher.publish([stored([1, 2], null, ids)]);
    await until(() => states(index, ids).join() === 'gpu,gpu', 'stored');
    await publisher.publish([removed([2])]);
    await until(() => states(index, ids).join() === 'gpu,removed', 'removed');
    const before = purged();
    await publisher.publish([cleared], { encoding: 'map' });
    await until(() => states(index, ids).join() === 'silent,silent', 'cleared');
    expect(purged()).toBe(before + 1);
    expect(counts.purge_cleared).toBe(1);
  });

  test('what was published before the router connected comes from the replay socket', async () => {
    await using publisher = await KvPublisher.start();
    const ids = tokens(48);
    await publisher.publish([stored([1, 2, 3], null, ids)]);
    const { feed, index } = await feedOn(publisher);
    await using _f = feed;
    await until(() => states(index, ids).every((s) => s === 'gpu'), 'the replayed batch to be indexed');
  });

  test('a gap in the sequence is filled from the replay socket, in order', async () => {
    await using publisher = await KvPublisher.start();
    const { feed, index, counts } = await feedOn(publisher);
    await using _f = feed;
    const ids = tokens(48);
    await publisher.publish([stored([1], null, ids.slice(0, 16))]);
    await until(() => feed.lastSeq === 0n, 'the first batch');
    await publisher.drop([stored([2], 1, ids.slice(16, 32))]); // never sent live
    await publisher.publish([stored([3], 2, ids.slice(32, 48))]);
    await until(() => states(index, ids).every((s) => s === 'gpu'), 'the missed batch to come from the replay');
    expect(counts.gaps).toBe(1);
    expect(feed.lastSeq).toBe(2n);
    // Block 3's parent (2) came late; it was chained correctly all the same.
    expect(index.stats().orphans).toBe(0);
  });

  test('without a replay socket a gap is counted and the feed goes on', async () => {
    await using publisher = await KvPublisher.start();
    const { feed, index, counts } = await feedOn(publisher, false);
    await using _f = feed;
    const ids = tokens(32);
    await publisher.publish([stored([1], null, ids.slice(0, 16))]);
    await until(() => feed.lastSeq === 0n, 'the first batch');
    await publisher.drop([]);
    await publisher.publish([stored([9], null, tokens(16, 500))]);
    await until(() => feed.lastSeq === 2n, 'the batch after the gap');
    expect(counts.gaps).toBe(1);
    expect(states(index, ids.slice(0, 16))).toEqual(['gpu']);
  });

  test('a publisher restart (the sequence starts again) purges the index first', async () => {
    await using publisher = await KvPublisher.start();
    const { feed, index, counts } = await feedOn(publisher);
    await using _f = feed;
    const old = tokens(32);
    await publisher.publish([stored([1], null, old.slice(0, 16))]);
    await publisher.publish([stored([2], 1, old.slice(16))]);
    await until(() => feed.lastSeq === 1n, 'two batches');
    await publisher.restart();
    const fresh = tokens(16, 777);
    await publisher.publish([stored([1], null, fresh)]);
    await until(() => states(index, fresh).join() === 'gpu', 'the new publisher\'s block');
    expect(states(index, old)).toEqual(['silent', 'silent']);
    expect(counts.purge_restart).toBe(1);
  });

  test('malformed frames and payloads are counted and dropped; the feed keeps working', async () => {
    await using publisher = await KvPublisher.start();
    const { feed, index, counts } = await feedOn(publisher);
    await using _f = feed;
    const enc = new TextEncoder();
    await publisher.raw([enc.encode('kv'), new Uint8Array(3)]); // two frames, short seq
    await publisher.raw([enc.encode('kv'), new Uint8Array(8), new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff])]); // msgpack bomb
    await publisher.raw([enc.encode('kv'), new Uint8Array([0, 0, 0, 0, 0, 0, 0, 1]), enc.encode('not msgpack at all')]);
    await until(() => (counts.malformed ?? 0) >= 3, 'three malformed messages');
    const ids = tokens(16, 4242);
    // The raw messages took sequence numbers of their own: the next real batch may look like a gap or a restart.
    await publisher.publish([stored([5], null, ids), { type: 'SomethingNew' }, { type: 'BlockStored', block_hashes: ['x'] } as never]);
    await until(() => states(index, ids).join() === 'gpu', 'the good batch after the bad ones');
    expect(counts.skipped_unknown_type).toBe(1);
    expect(counts.skipped_malformed_event).toBe(1);
  });
});
