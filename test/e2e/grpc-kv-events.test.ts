// kv_aware over gRPC through the compiled binary: each VllmEngine endpoint's SubscribeKvEvents stream feeds its KV
// index. Another client's traffic on an engine (prefill on the stand-in) makes the engine publish BlockStored; the
// router then sends a request sharing that prefix there; a cleared cache loses it; a broken stream is resubscribed;
// a gap (a batch the servicer missed) purges the engine's blocks, since gRPC has no replay.
import { afterAll, describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { loadStandInVocabulary, standInTokenizerDir, startGrpcEngine, type GrpcEngine } from '../../testkit/grpc-engine.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { startRouterProcess, type RouterProcess } from '../../testkit/router-process.ts';
import { until } from '../../testkit/until.ts';

const build = buildRouterBinary();
afterAll(() => build[Symbol.dispose]());
const llama = loadStandInVocabulary('llama3_1');
const LLAMA_DIR = standInTokenizerDir('llama3_1');
const BLOCKS = 16;

/** A prompt of token ids, 16 full blocks of 16 tokens, different for each seed. */
const promptIds = (seed: number): number[] => {
  const random = mulberry32(seed);
  return Array.from({ length: BLOCKS * 16 }, () => 1000 + Math.floor(random() * 100_000));
};

async function fleet(extra: string[] = []) {
  const a = await startGrpcEngine({ vocab: llama, model: 'llama', kvEvents: true, output: 'ok' });
  const b = await startGrpcEngine({ vocab: llama, model: 'llama', kvEvents: true, output: 'ok' });
  const r = await startRouterProcess(build.path, ['--worker-urls', a.url, b.url, '--policy', 'kv_aware', '--model-path', `llama=${LLAMA_DIR}`, '--tokenizer-pool-size', '1', ...extra]);
  // Events published before the router subscribed are not for it (the servicer has no replay).
  await until(() => a.kv.open === 1 && b.kv.open === 1);
  return { a, b, r, [Symbol.asyncDispose]: async () => {
      await Promise.all([r[Symbol.asyncDispose](), a[Symbol.asyncDispose](), b[Symbol.asyncDispose]()]);
    },
  };
}

/** Leading blocks of `ids` that each engine's events say it holds, as kv_aware counts them. */
async function cachedOn(r: RouterProcess, engine: GrpcEngine, ids: readonly number[]): Promise<number> {
  const res = await fetch(`${r.url}/router/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'llama', prompt: ids }) });
  const body = (await res.json()) as { kv_cached_blocks: Record<string, number> };
  const key = Object.keys(body.kv_cached_blocks).find((id) => id.includes(`:${engine.port}`));
  if (key === undefined) throw new Error(`no KV feed for ${engine.url}: ${JSON.stringify(body)}`);
  return body.kv_cached_blocks[key]!;
}

const complete = (r: RouterProcess, ids: readonly number[]) =>
  new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'k', maxRetries: 0 }).completions.create({ model: 'llama', prompt: ids as number[], max_tokens: 2 });

describe('kv_aware over gRPC SubscribeKvEvents', () => {
  test('a request sharing a long prefix goes to the engine that published BlockStored for it; a cleared cache loses it', async () => {
    await using f = await fleet();
    const { a, b, r } = f;
    const shared = promptIds(1);
    b.kv.prefill(shared); // another client's request on B
    await until(async () => (await cachedOn(r, b, shared)) === BLOCKS);
    expect(await cachedOn(r, a, shared)).toBe(0);
    for (let i = 0; i < 3; i++) await complete(r, [...shared, 7, 8, 9 + i]);
    expect(b.record.received.length).toBe(3);
    expect(a.record.received.length).toBe(0);

    // B resets its prefix cache (AllBlocksCleared); A now holds the prefix: the affinity moves with the events.
    b.kv.clear();
    await until(async () => (await cachedOn(r, b, shared)) === 0);
    a.kv.prefill(shared);
    await until(async () => (await cachedOn(r, a, shared)) === BLOCKS);
    for (let i = 0; i < 3; i++) await complete(r, [...shared, 17, 18, 19 + i]);
    expect(a.record.received.length).toBe(3);
    expect(b.record.received.length).toBe(3);
    const metrics = await r.scrape();
    expect(metricValue(metrics, 'vllm_router_kv_index_purges_total', { cause: 'cleared' })).toBe(1);
    // B's prefill, B's reset, A's prefill; the routed requests added no full block (their suffixes are 3 tokens).
    expect(metricValue(metrics, 'vllm_router_kv_event_batches_total')).toBe(3);
  });

  test('a stream that breaks is resubscribed, and the events after it count', async () => {
    await using f = await fleet();
    const { a, b, r } = f;
    const before = promptIds(2);
    b.kv.prefill(before);
    await until(async () => (await cachedOn(r, b, before)) === BLOCKS);
    b.kv.breakStreams();
    await until(() => b.kv.subscriptions === 2 && b.kv.open === 1);
    // What B held before the break is forgotten: the router cannot know what it missed meanwhile.
    expect(await cachedOn(r, b, before)).toBe(0);
    const after = promptIds(3);
    b.kv.prefill(after);
    await until(async () => (await cachedOn(r, b, after)) === BLOCKS);
    await complete(r, [...after, 1, 2, 3]);
    expect(b.record.received.length).toBe(1);
    expect(a.record.received.length).toBe(0);
    const metrics = await r.scrape();
    expect(metricValue(metrics, 'vllm_router_kv_event_stream_ends_total', { code: 'UNAVAILABLE' })).toBe(1);
    expect(a.kv.subscriptions).toBe(1);
  });

  test('a gap in the sequence (a batch the servicer missed) purges that engine\'s blocks, then its events count again', async () => {
    await using f = await fleet();
    const { a, b, r } = f;
    const first = promptIds(4);
    b.kv.prefill(first);
    a.kv.prefill(first);
    await until(async () => (await cachedOn(r, b, first)) === BLOCKS && (await cachedOn(r, a, first)) === BLOCKS);
    b.kv.dropNextBatch();
    const missed = promptIds(5);
    b.kv.prefill(missed);
    const next = promptIds(6);
    b.kv.prefill(next);
    await until(async () => (await cachedOn(r, b, next)) === BLOCKS);
    expect(await cachedOn(r, b, first)).toBe(0);
    expect(await cachedOn(r, b, missed)).toBe(0);
    expect(await cachedOn(r, a, first)).toBe(BLOCKS); // the other engine's index is untouched
    const metrics = await r.scrape();
    expect(metricValue(metrics, 'vllm_router_kv_event_gaps_total')).toBe(1);
    expect(metricValue(metrics, 'vllm_router_kv_index_purges_total', { cause: 'gap' })).toBe(1);
  });

  test('an engine without KV events answers UNIMPLEMENTED: counted, and kv_aware still routes to it', async () => {
    await using a = await startGrpcEngine({ vocab: llama, model: 'llama', output: 'ok' });
    await using r = await startRouterProcess(build.path, ['--worker-urls', a.url, '--policy', 'kv_aware', '--model-path', `llama=${LLAMA_DIR}`, '--tokenizer-pool-size', '1']);
    await until(async () => metricValue(await r.scrape(), 'vllm_router_kv_event_stream_ends_total', { code: 'UNIMPLEMENTED' }) === 1);
    const answer = await complete(r, promptIds(7));
    expect(answer.choices[0]!.text).toBe('ok');
  });
});
