// A VllmEngine gRPC endpoint added at run time (POST /workers) serving a model the router has no tokenizer for:
// its GetTokenizer bundle goes into every pool thread, then the model is served, through the compiled binary with
// the openai SDK. While it loads the model gets 503 naming it; a bundle that does not load is a 501 naming the
// model and why, counted, and the router keeps serving the others.
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { loadStandInVocabulary, standInTokenizerDir, startGrpcEngine } from '../../testkit/grpc-engine.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { startRouterProcess, type RouterProcess } from '../../testkit/router-process.ts';
import { until } from '../../testkit/until.ts';

const build = buildRouterBinary();
const scratch = mkdtempSync(join(tmpdir(), 'grpc-runtime-tokenizer-'));
afterAll(() => {
  build[Symbol.dispose]();
  rmSync(scratch, { recursive: true, force: true });
});
const llama = loadStandInVocabulary('llama3_1');
const qwen = loadStandInVocabulary('qwen3');
const LLAMA_TEXT = 'Bonjour à tous: le café est prêt.';
const QWEN_TEXT = '你好，世界！Naïve façade — 東京.';
const messages = [{ role: 'user' as const, content: 'Say hello.' }];

const client = (r: RouterProcess) => new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'k', maxRetries: 0 });
const addWorker = async (r: RouterProcess, url: string) => {
  const added = await fetch(`${r.url}/workers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url }) });
  expect(added.status).toBe(200);
};
const listed = (r: RouterProcess, model: string) =>
  until(async () => ((await (await fetch(`${r.url}/v1/models`)).json()) as { data: { id: string }[] }).data.some((m) => m.id === model), `${model} is listed`);
const refusal = (e: unknown) => {
  expect(e).toBeInstanceOf(OpenAI.APIError);
  return e as InstanceType<typeof OpenAI.APIError>;
};
/** Asks until the model is served (503 while its tokenizer loads), then gives that answer. */
async function untilServed(openai: OpenAI, model: string) {
  let answer: OpenAI.Chat.Completions.ChatCompletion | undefined;
  await until(async () => {
    answer = await openai.chat.completions.create({ model, messages }).catch(() => undefined);
    return answer !== undefined;
  }, `${model} is served`);
  return answer as OpenAI.Chat.Completions.ChatCompletion;
}
const idsSent = (received: Record<string, unknown>[], k: number) => (received[k] as { tokenized: { input_ids: number[] } }).tokenized.input_ids;

describe('gRPC endpoint added at run time: its tokenizer from GetTokenizer', () => {
  test('a router serving one model takes a second model\'s tokenizer from the endpoint added for it; 503 naming it while it loads', async () => {
    await using a = await startGrpcEngine({ vocab: llama, model: 'llama', output: LLAMA_TEXT });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    await using b = await startGrpcEngine({ vocab: qwen, tokenizer: 'qwen3', model: 'qwen', output: QWEN_TEXT, tokenizerGate: gate });
    await using r = await startRouterProcess(build.path, ['--worker-urls', a.url, '--model-path', `llama=${standInTokenizerDir('llama3_1')}`, '--tokenizer-pool-size', '2', '--policy', 'cache_aware']);
    const openai = client(r);
    await addWorker(r, b.url);
    await listed(r, 'qwen');
    await until(() => b.record.tokenizerFetches === 1, 'GetTokenizer is called');
    const loading = refusal(await openai.chat.completions.create({ model: 'qwen', messages }).catch((e: unknown) => e));
    expect(loading.status).toBe(503);
    expect(loading.message).toContain('tokenizer for model `qwen` is being fetched');
    expect(loading.headers?.get('retry-after')).toBe('1');
    // The model served before is not held up.
    expect((await openai.chat.completions.create({ model: 'llama', messages })).choices[0]!.message.content).toBe(LLAMA_TEXT);
    expect(b.record.received.length).toBe(0);

    open();
    const served = await untilServed(openai, 'qwen');
    expect(served.choices[0]!.message.content).toBe(QWEN_TEXT);
    // Templated and tokenized with Qwen's own files, in the pool (and the same in every thread: several requests).
    const want = qwen.tokenizer.encode('<|im_start|>user\nSay hello.<|im_end|>\n<|im_start|>assistant\n', { add_special_tokens: false }).ids;
    const more = await Promise.all(Array.from({ length: 6 }, () => openai.chat.completions.create({ model: 'qwen', messages })));
    for (const answer of more) expect(answer.choices[0]!.message.content).toBe(QWEN_TEXT);
    for (let k = 0; k < b.record.received.length; k++) expect(idsSent(b.record.received, k)).toEqual(want);
    // Streamed, and completions: decoded with Qwen's vocabulary.
    let streamed = '';
    for await (const chunk of await openai.chat.completions.create({ model: 'qwen', messages, stream: true })) streamed += chunk.choices[0]?.delta.content ?? '';
    expect(streamed).toBe(QWEN_TEXT);
    const prompt = 'Once upon a time,';
    expect((await openai.completions.create({ model: 'qwen', prompt, max_tokens: 64 })).choices[0]!.text).toBe(QWEN_TEXT);
    expect(idsSent(b.record.received, b.record.received.length - 1)).toEqual(qwen.tokenizer.encode(prompt).ids);
    expect(b.record.tokenizerFetches).toBe(1);
    expect(metricValue(await r.scrape(), 'vllm_router_grpc_tokenizer_fetches_total', { model: 'qwen', outcome: 'loaded' })).toBe(1);
  });

  test('a router started with no endpoint and no tokenizer serves a gRPC endpoint added later', async () => {
    await using r = await startRouterProcess(build.path, ['--tokenizer-pool-size', '1']);
    await using b = await startGrpcEngine({ vocab: qwen, tokenizer: 'qwen3', model: 'qwen', output: QWEN_TEXT });
    await addWorker(r, b.url);
    const openai = client(r);
    const served = await untilServed(openai, 'qwen');
    expect(served.choices[0]!.message.content).toBe(QWEN_TEXT);
  });

  test('a tokenizer that does not load: 501 naming the model and why, counted; the router keeps serving', async () => {
    const broken = join(scratch, 'broken');
    rmSync(broken, { recursive: true, force: true });
    mkdirSync(broken);
    writeFileSync(join(broken, 'tokenizer.json'), JSON.stringify({ version: '1.0', model: { type: 'NoSuchModel' } }));
    await using a = await startGrpcEngine({ vocab: llama, model: 'llama', output: LLAMA_TEXT });
    await using b = await startGrpcEngine({ vocab: qwen, tokenizer: 'qwen3', model: 'qwen', output: QWEN_TEXT, tokenizerDir: broken });
    await using r = await startRouterProcess(build.path, ['--worker-urls', a.url, '--model-path', `llama=${standInTokenizerDir('llama3_1')}`, '--tokenizer-pool-size', '1']);
    await addWorker(r, b.url);
    await listed(r, 'qwen');
    await until(async () => metricValue(await r.scrape(), 'vllm_router_grpc_tokenizer_fetches_total', { model: 'qwen', outcome: 'failed' }) === 1, 'the failure is counted');
    const openai = client(r);
    const failed = refusal(await openai.chat.completions.create({ model: 'qwen', messages }).catch((e: unknown) => e));
    expect(failed.status).toBe(501);
    expect(failed.message).toContain('no tokenizer for model `qwen`');
    expect(failed.message).toContain(`GetTokenizer from ${b.url} failed`);
    expect(failed.message).toContain('--model-path qwen=DIR');
    expect(b.record.received.length).toBe(0);
    expect((await openai.chat.completions.create({ model: 'llama', messages })).choices[0]!.message.content).toBe(LLAMA_TEXT);
    expect((await fetch(`${r.url}/liveness`)).status).toBe(200);
  });
});

describe('requests the gRPC front refuses before sending', () => {
  test('do not count against the endpoint: its breaker stays closed and it keeps serving', async () => {
    // vllm.Inference without a tokenizer: chat is refused by the router (no template), completions of text are served.
    await using engine = await startGrpcEngine({ vocab: llama, model: 'llama', protocol: 'vllm-inference', output: LLAMA_TEXT });
    await using r = await startRouterProcess(build.path, ['--worker-urls', engine.url, '--cb-failure-threshold', '3']);
    const openai = client(r);
    for (let i = 0; i < 6; i++) expect(refusal(await openai.chat.completions.create({ model: 'llama', messages }).catch((e: unknown) => e)).status).toBe(501);
    const served = await openai.completions.create({ model: 'llama', prompt: 'Once upon a time,', max_tokens: 64 });
    expect(served.choices[0]!.text).toBe(LLAMA_TEXT);
    expect(engine.record.received.length).toBe(1);
  });
});
