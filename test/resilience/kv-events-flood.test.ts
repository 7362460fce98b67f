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
  test('200,000 blocks and garbage in between: the index holds its budget, memory stays bounded, the router serves', async () => {
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
    await publisher.raw([enc.encode('kv'), new Uint8Array(8), new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff])]);
    const last = await publisher.flood(2000, 100);
    await publisher.raw([enc.encode('kv'), new Uint8Array(5)]);
    await until(async () => metricValue(await router.scrape(), 'vllm_router_kv_index_blocks') === 20000, 'the index to fill to its budget', 60_000);
    // Everything published arrived, live or replayed after a gap: the newest block is in the index.
    await until(async () => metricValue(await router.scrape(), 'vllm_router_kv_event_malformed_total') >= 2, 'the bad messages to be counted');
    const text = await router.scrape();
    expect(metricValue(text, 'vllm_router_kv_index_blocks')).toBe(20000);
    expect(metricValue(text, 'vllm_router_kv_event_batches_total')).toBeGreaterThanOrEqual(1);
    expect(last).toBe(1999);

    const growthMb = (memoryKb(router.pid).rss - before) / 1024;
    console.log(`KV flood: 200,000 blocks; router RSS +${growthMb.toFixed(0)} MiB; batches ${metricValue(text, 'vllm_router_kv_event_batches_total')}, gaps ${metricValue(text, 'vllm_router_kv_event_gaps_total')}, replays ${metricValue(text, 'vllm_router_kv_event_replays_total', { outcome: 'completed' })}`);
    expect(growthMb).toBeLessThan(200);

    const res = await fetch(`${router.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: Array.from({ length: 64 }, (_, i) => i), max_tokens: 1 }) });
    expect(res.status).toBe(200);
  });
});
