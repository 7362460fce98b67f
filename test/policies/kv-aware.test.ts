// kv_aware end to end: two engines, each with a libzmq publisher speaking vLLM's KV-event wire, and the router
// sending each request where the events say its prompt's blocks are, shown by the engine that served it.
import { describe, expect, test } from 'bun:test';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { until } from '../../testkit/until.ts';
import { LLAMA_DIR } from '../pool/tokenizer-fixture.ts';
import { startTestRouter } from '../support/router.ts';
import { cleared, KvPublisher, removed, stored, type Hash } from '../signals/kv-events/python-publisher.ts';

const BS = 16;

async function fleet(extra: string[] = []) {
  const engines = [await startMockEngine({ model: 'm' }), await startMockEngine({ model: 'm' })] as const;
  const publishers = [await KvPublisher.start(), await KvPublisher.start()];
  const mapping: string[] = [];
  for (let i = 0; i < 2; i++) {
    const ports = await publishers[i]!.ports();
    mapping.push('--kv-events-endpoint', `${engines[i]!.url}=${ports.pub}`, '--kv-events-replay-endpoint', `${engines[i]!.url}=${ports.replay}`);
  }
  const router = await startTestRouter([
    '--worker-urls', engines[0]!.url, engines[1]!.url,
    '--policy', 'kv_aware',
    '--tokenizer-path', LLAMA_DIR,
    '--tokenizer-pool-size', '1',
    '--cache-threshold', '0.5',
    ...mapping,
    ...extra,
  ]);
  const scrape = async () => (await fetch(router.router.metricsUrl)).text();
  await until(async () => metricValue(await scrape(), 'vllm_router_kv_feed_connected') === 2, 'both feeds to connect');
  return {
    engines,
    publishers,
    router,
    scrape,
    async [Symbol.asyncDispose]() {
      await router[Symbol.asyncDispose]();
      for (const p of publishers) await p[Symbol.asyncDispose]();
      for (const e of engines) await e[Symbol.asyncDispose]();
    },
  };
}

const conversation = (n: number) => ({
  model: 'm',
  max_tokens: 2,
  messages: [
    { role: 'system', content: 'You are a careful assistant who answers in full sentences. '.repeat(6) },
    { role: 'user', content: `Question number ${n}: explain how a router spreads requests over engines, in detail. `.repeat(4) },
  ],
});

/** The prompt's token ids as the router's tokenizer pool sees them. */
async function tokensOf(url: string, body: object): Promise<number[]> {
  const res = await fetch(`${url}/router/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return ((await res.json()) as { tokens: number[] }).tokens;
}

/** The BlockStored a vLLM engine would publish for a prompt's full blocks, with hashes `base + i`. */
function storedFor(tokens: number[], base: number, medium = 'GPU') {
  const blocks = Math.floor(tokens.length / BS);
  const hashes: Hash[] = Array.from({ length: blocks }, (_, i) => base + i);
  return stored(hashes, null, tokens.slice(0, blocks * BS), { medium });
}

async function servedBy(url: string, body: object): Promise<string> {
  const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  await res.text();
  return res.headers.get('x-served-by')!;
}

describe('kv_aware', () => {
  test('a request goes to the engine whose events hold its prompt, and follows the blocks when they move', async () => {
    await using f = await fleet();
    const [a, b] = f.engines;
    const body = conversation(1);
    const tokens = await tokensOf(f.router.url, body);
    expect(tokens.length).toBeGreaterThan(4 * BS);

    await f.publishers[1]!.publish([storedFor(tokens, 1000)]);
    await until(async () => metricValue(await f.scrape(), 'vllm_router_kv_index_blocks', { worker: b.url }) > 0, 'engine b\'s blocks to be indexed');
    // /router/tokenize shows what each engine reports cached.
    const shown = (await (await fetch(`${f.router.url}/router/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as { kv_cached_blocks: Record<string, number> };
    expect(shown.kv_cached_blocks).toEqual({ [a.url]: 0, [b.url]: Math.floor(tokens.length / BS) });
    for (let i = 0; i < 3; i++) expect(await servedBy(f.router.url, body)).toBe(b.url);

    // b evicts them and a stores them: the next request follows, whatever the router guessed before.
    await f.publishers[1]!.publish([removed(Array.from({ length: Math.floor(tokens.length / BS) }, (_, i) => 1000 + i))]);
    await f.publishers[0]!.publish([storedFor(tokens, 5000)], { encoding: 'map' });
    await until(async () => metricValue(await f.scrape(), 'vllm_router_kv_index_blocks', { worker: a.url }) > 0, 'engine a\'s blocks to be indexed');
    for (let i = 0; i < 3; i++) expect(await servedBy(f.router.url, body)).toBe(a.url);

    const text = await f.scrape();
    expect(metricValue(text, 'vllm_router_kv_predicted_cached_tokens_total', { worker: a.url })).toBeGreaterThan(0);
    expect(metricValue(text, 'vllm_router_kv_events_total')).toBeGreaterThanOrEqual(3);
  });

  test('AllBlocksCleared and a publisher restart take an engine\'s blocks (and the router\'s guess) away', async () => {
    await using f = await fleet();
    const [, b] = f.engines;
    const first = conversation(2);
    const tokens = await tokensOf(f.router.url, first);
    await f.publishers[1]!.publish([storedFor(tokens, 100)]);
    await until(async () => metricValue(await f.scrape(), 'vllm_router_kv_index_blocks', { worker: b.url }) > 0, 'indexed');
    expect(await servedBy(f.router.url, first)).toBe(b.url);

    await f.publishers[1]!.publish([cleared]);
    await until(async () => metricValue(await f.scrape(), 'vllm_router_kv_index_blocks', { worker: b.url }) === 0, 'cleared');
    expect(metricValue(await f.scrape(), 'vllm_router_kv_index_purges_total', { worker: b.url, cause: 'cleared' })).toBe(1);

    await f.publishers[1]!.publish([storedFor(tokens, 200)]);
    await until(async () => metricValue(await f.scrape(), 'vllm_router_kv_index_blocks', { worker: b.url }) > 0, 'indexed again');
    await f.publishers[1]!.restart();
    await f.publishers[1]!.publish([storedFor(await tokensOf(f.router.url, conversation(99)), 300)]);
    await until(async () => metricValue(await f.scrape(), 'vllm_router_kv_index_purges_total', { worker: b.url, cause: 'restart' }) === 1, 'the restart to purge b');
  });

  test('a prompt of token ids needs no tokenizer; a LoRA adapter\'s blocks match requests for that adapter only', async () => {
    const engines = [await startMockEngine({ model: 'm', loras: ['sql'] }), await startMockEngine({ model: 'm', loras: ['sql'] })] as const;
    await using _a = engines[0];
    await using _b = engines[1];
    await using pub = await KvPublisher.start();
    const ports = await pub.ports();
    await using router = await startTestRouter([
      '--worker-urls', engines[0].url, engines[1].url, '--policy', 'kv_aware', '--cache-threshold', '0.5',
      '--kv-events-endpoint', `${engines[1].url}=${ports.pub}`, '--kv-events-replay-endpoint', `${engines[1].url}=${ports.replay}`,
    ]);
    const scrape = async () => (await fetch(router.router.metricsUrl)).text();
    const ids = Array.from({ length: 8 * BS }, (_, i) => 100 + i);
    const complete = async (model: string) => {
      const res = await fetch(`${router.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, prompt: ids, max_tokens: 1 }) });
      expect(res.status).toBe(200);
      await res.text();
      return res.headers.get('x-served-by');
    };
    const hashes = Array.from({ length: 8 }, (_, i) => 700 + i);
    await pub.publish([stored(hashes, null, ids, { lora_name: 'sql', extra_keys: hashes.map(() => ['sql']) })], { encoding: 'map' });
    await until(async () => metricValue(await scrape(), 'vllm_router_kv_index_blocks', { worker: engines[1].url }) === 8, 'the adapter\'s blocks');
    expect(await complete('sql')).toBe(engines[1].url);
    // The base model's chain is another one: the same tokens are not cached for it (a miss goes to the first least-loaded engine).
    expect(await complete('m')).toBe(engines[0].url);
  });

  test('PD mode: the prefill stage goes where the events hold the prompt, the decode stage by its own policy', async () => {
    const prefill = [await startMockEngine({ role: 'prefill', model: 'm' }), await startMockEngine({ role: 'prefill', model: 'm' })] as const;
    const decode = await startMockEngine({ role: 'decode', model: 'm' });
    await using _p0 = prefill[0];
    await using _p1 = prefill[1];
    await using _d = decode;
    await using pub = await KvPublisher.start();
    const ports = await pub.ports();
    await using router = await startTestRouter([
      '--vllm-pd-disaggregation', '--prefill', prefill[0].url, '--prefill', prefill[1].url, '--decode', decode.url,
      '--prefill-policy', 'kv_aware', '--decode-policy', 'round_robin', '--cache-threshold', '0.5',
      '--tokenizer-path', LLAMA_DIR, '--tokenizer-pool-size', '1',
      '--kv-events-endpoint', `${prefill[1].url}=${ports.pub}`, '--kv-events-replay-endpoint', `${prefill[1].url}=${ports.replay}`,
    ]);
    const scrape = async () => (await fetch(router.router.metricsUrl)).text();
    const body = conversation(7);
    const tokens = await tokensOf(router.url, body);
    await pub.publish([storedFor(tokens, 4000)]);
    await until(async () => metricValue(await scrape(), 'vllm_router_kv_index_blocks', { worker: prefill[1].url }) > 0, 'the prefill engine\'s blocks');
    // x-served-by names the prefill engine, then the decode engine.
    for (let i = 0; i < 3; i++) expect(await servedBy(router.url, body)).toBe(`${prefill[1].url}, ${decode.url}`);
  });

  test('data-parallel ranks map to URL@r, each on its port + r', async () => {
    const engine = await startMockEngine({ model: 'm' });
    await using _e = engine;
    await using router = await startTestRouter([
      '--worker-urls', engine.url, '--intra-node-data-parallel-size', '2', '--policy', 'kv_aware', '--tokenizer-path', LLAMA_DIR, '--tokenizer-pool-size', '1',
      '--kv-events-port', '1', '--kv-events-replay-port', '1',
    ]);
    const { kvAddresses } = await import('../../src/startup/kv-events.ts');
    const addressOf = kvAddresses(router.router.config);
    const ids = router.router.registry.all().map((e) => [e.id, addressOf(e)]);
    const host = new URL(engine.url).hostname;
    expect(ids).toEqual([
      [`${engine.url}@0`, { pub: `tcp://${host}:1`, replay: `tcp://${host}:1` }],
      [`${engine.url}@1`, { pub: `tcp://${host}:2`, replay: `tcp://${host}:2` }],
    ]);
  });
});
