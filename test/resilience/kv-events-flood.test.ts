// The compiled router under a flood of KV events and malformed frames from an engine's publisher: the index
// stays within --kv-index-max-entries, memory stays bounded, every bad message is counted, and it keeps serving.
import { afterAll, describe, expect, test } from 'bun:test';
import { memoryKb } from '../../testkit/memory-kb.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { startRouterProcess } from '../../testkit/router-process.ts';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { until } from '../../testkit/until.ts';
import { KvPublisher } from '../signals/kv-events/python-publisher.ts';

const binary = buildRouterBinary();
afterAll(() => binary[Symbol.dispose]());

describe('KV events under a flood', () => {
  test('400,000 blocks and garbage: the index holds its budget, memory does not grow with the events, the router serves', async () => {
    await using engine = await spawnMockEngine(['--model', 'm']);
    await using publisher = await KvPublisher.start();
    const ports = await publisher.ports();
    await using router = await startRouterProcess(binary.path, [
      '--worker-urls', engine.url, '--policy', 'kv_aware',
      '--kv-events-endpoint', `${engine.url}=${ports.pub}`, '--kv-events-replay-endpoint', `${engine.url}=${ports.replay}`,
      '--kv-index-max-entries', '20000',
    ]);
    await until(async () => metricValue(await router.scrape(), 'vllm_router_kv_feed_connected') === 1, 'the feed to connect');
    const before = memoryKb(router.pid).rss;

    const enc = new TextEncoder();
    // A msgpack bomb under a sequence number far ahead: when the real batches start at 0 again, that reads as a
    // publisher restart, and the index starts over.
    const farAhead = new Uint8Array(8);
    new DataView(farAhead.buffer).setBigUint64(0, 1_000_000n);
    await publisher.raw([enc.encode('kv'), farAhead, new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff])]);
    await publisher.raw([enc.encode('kv'), new Uint8Array(5)]);
    await until(async () => metricValue(await router.scrape(), 'vllm_router_kv_event_malformed_total') >= 2, 'the bad messages to be counted');
    // Two floods of 2,000 batches × 100 blocks: what the first leaves behind (heap the collector has not handed
    // back) the second must not add to again: memory follows the index budget, not the events received.
    const events = async () => metricValue(await router.scrape(), 'vllm_router_kv_events_total');
    const flood = async () => {
      const from = await events();
      await publisher.flood(2000, 100);
      await until(async () => (await events()) >= from + 2000, 'the flood to be applied', 60_000);
      return memoryKb(router.pid).rss;
    };
    const afterFirst = await flood();
    const afterSecond = await flood();
    const text = await router.scrape();
    expect(metricValue(text, 'vllm_router_kv_index_blocks')).toBe(20000);
    const first = (afterFirst - before) / 1024;
    const second = (afterSecond - afterFirst) / 1024;
    console.log(`KV flood: 2 × 200,000 blocks; router RSS +${first.toFixed(0)} MiB after the first, +${second.toFixed(0)} MiB more after the second; batches ${metricValue(text, 'vllm_router_kv_event_batches_total')}, gaps ${metricValue(text, 'vllm_router_kv_event_gaps_total')}, replays ${metricValue(text, 'vllm_router_kv_event_replays_total', { outcome: 'completed' })}`);
    expect(first).toBeLessThan(300);
    expect(second).toBeLessThan(Math.max(50, first / 2));

    const res = await fetch(`${router.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: Array.from({ length: 64 }, (_, i) => i), max_tokens: 1 }) });
    expect(res.status).toBe(200);
  });
});
