// A gRPC fleet serving two models with different tokenizers, through the compiled binary with the openai SDK: each
// request is templated and tokenized with its own model's tokenizer (repeatable --model-path MODEL=DIR, or the
// engine's GetTokenizer), decoded with its vocabulary, and sampled with its generation_config.json defaults.
import { afterAll, describe, expect, test } from 'bun:test';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { loadStandInVocabulary, standInTokenizerDir, startGrpcEngine, type GrpcEngine } from '../../testkit/grpc-engine.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { startRouterProcess, type RouterProcess } from '../../testkit/router-process.ts';
import { until } from '../../testkit/until.ts';

const build = buildRouterBinary();
const scratch = mkdtempSync(join(tmpdir(), 'grpc-models-'));
afterAll(() => {
  build[Symbol.dispose]();
  rmSync(scratch, { recursive: true, force: true });
});
const llama = loadStandInVocabulary('llama3_1');
const qwen = loadStandInVocabulary('qwen3');
const QWEN_DIR = standInTokenizerDir('qwen3');

/** The Llama tokenizer files with a generation_config.json of its own (the shipped package has none). */
const LLAMA_DIR = (() => {
  const dir = join(scratch, 'llama');
  mkdirSync(dir);
  for (const name of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(standInTokenizerDir('llama3_1'), name), join(dir, name));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ temperature: 0.25, top_p: 0.5 }));
  return dir;
})();

const LLAMA_TEXT = 'Bonjour à tous: le café est prêt.';
const QWEN_TEXT = '你好，世界！Naïve façade — 東京.';
const engines = async () => ({
  a: await startGrpcEngine({ vocab: llama, model: 'llama', output: LLAMA_TEXT }),
  b: await startGrpcEngine({ vocab: qwen, tokenizer: 'qwen3', model: 'qwen', output: QWEN_TEXT }),
});
const router = (urls: readonly string[], extra: string[]): Promise<RouterProcess> =>
  startRouterProcess(build.path, ['--worker-urls', ...urls, '--tokenizer-pool-size', '1', '--policy', 'cache_aware', ...extra]);
const client = (r: RouterProcess) => new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'k', maxRetries: 0 });
/** Model-aware routing knows which endpoint serves which model once it read their model info. */
const bothListed = (r: RouterProcess) =>
  until(async () => {
    const ids = ((await (await fetch(`${r.url}/v1/models`)).json()) as { data: { id: string }[] }).data.map((m) => m.id);
    return ids.includes('llama') && ids.includes('qwen');
  });
const idsSent = (e: GrpcEngine, k: number) => (e.record.received[k] as { tokenized: { input_ids: number[] } }).tokenized.input_ids;
const samplingSent = (e: GrpcEngine, k: number) => (e.record.received[k] as { sampling_params: Record<string, unknown> }).sampling_params;

async function expectBothModels(r: RouterProcess, a: GrpcEngine, b: GrpcEngine): Promise<void> {
  const openai = client(r);
  const messages = [{ role: 'user' as const, content: 'Say hello.' }];
  const toLlama = await openai.chat.completions.create({ model: 'llama', messages });
  expect(toLlama.choices[0]!.message.content).toBe(LLAMA_TEXT);
  const toQwen = await openai.chat.completions.create({ model: 'qwen', messages });
  expect(toQwen.choices[0]!.message.content).toBe(QWEN_TEXT);
  // Each engine got its own model's chat template, tokenized with its own tokenizer.
  expect(idsSent(a, 0)).toEqual(
    llama.tokenizer.encode('<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nSay hello.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n', { add_special_tokens: false }).ids,
  );
  expect(idsSent(b, 0)).toEqual(qwen.tokenizer.encode('<|im_start|>user\nSay hello.<|im_end|>\n<|im_start|>assistant\n', { add_special_tokens: false }).ids);

  // Streamed, and completions: the same split, byte-exact text across multi-byte characters.
  const stream = await openai.chat.completions.create({ model: 'qwen', messages, stream: true });
  let streamed = '';
  for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? '';
  expect(streamed).toBe(QWEN_TEXT);
  const prompt = 'Once upon a time, in a land far away,';
  const llamaCompletion = await openai.completions.create({ model: 'llama', prompt, max_tokens: 64 });
  expect(llamaCompletion.choices[0]!.text).toBe(LLAMA_TEXT);
  expect(idsSent(a, 1)).toEqual(llama.tokenizer.encode(prompt).ids);
  const qwenCompletion = await openai.completions.create({ model: 'qwen', prompt, max_tokens: 64 });
  expect(qwenCompletion.choices[0]!.text).toBe(QWEN_TEXT);
  expect(idsSent(b, 2)).toEqual(qwen.tokenizer.encode(prompt).ids);
  expect(a.record.received.length).toBe(2);
  expect(b.record.received.length).toBe(3);
}

describe('gRPC fleet of two models, two tokenizers', () => {
  test('--model-path MODEL=DIR per model: each request is templated, tokenized and decoded with its model\'s tokenizer', async () => {
    const { a, b } = await engines();
    await using _a = a;
    await using _b = b;
    await using r = await router([a.url, b.url], ['--model-path', `llama=${LLAMA_DIR}`, '--model-path', `qwen=${QWEN_DIR}`]);
    await bothListed(r);
    await expectBothModels(r, a, b);
    // generation_config.json defaults are per model: Llama's directory has one, Qwen's none (vLLM's defaults).
    expect(samplingSent(a, 0)).toMatchObject({ temperature: 0.25, top_p: 0.5 });
    expect(samplingSent(b, 0)).toMatchObject({ temperature: 1 });
    expect(samplingSent(b, 0).top_p ?? 1).toBe(1);
  });

  test('a model given no path gets its tokenizer from the VllmEngine endpoint serving it (GetTokenizer)', async () => {
    const { a, b } = await engines();
    await using _a = a;
    await using _b = b;
    await using r = await router([a.url, b.url], ['--model-path', `llama=${LLAMA_DIR}`]);
    await bothListed(r);
    await expectBothModels(r, a, b);
  });

  test('a model with no tokenizer anywhere gets a 501 naming it; the other model keeps being served', async () => {
    await using a = await startGrpcEngine({ vocab: llama, model: 'llama', output: LLAMA_TEXT });
    // vllm.Inference has no GetTokenizer: the router cannot render the chat template of this model.
    await using b = await startGrpcEngine({ vocab: qwen, tokenizer: 'qwen3', model: 'qwen', protocol: 'vllm-inference', output: QWEN_TEXT });
    await using r = await router([a.url, b.url], ['--model-path', `llama=${LLAMA_DIR}`]);
    await bothListed(r);
    const openai = client(r);
    const refused = await openai.chat.completions.create({ model: 'qwen', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(501);
    expect((refused as InstanceType<typeof OpenAI.APIError>).message).toContain('no tokenizer for model `qwen`');
    expect((refused as InstanceType<typeof OpenAI.APIError>).message).toContain('--model-path qwen=DIR');
    expect(b.record.received.length).toBe(0);
    const served = await openai.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] });
    expect(served.choices[0]!.message.content).toBe(LLAMA_TEXT);
  });
});

describe('tokenizer paths: configuration errors exit 2 naming the flag, the value and why', () => {
  const run = (args: string[]) => {
    const out = Bun.spawnSync([build.path, '--worker-urls', 'grpc://127.0.0.1:9', '--port', '0', '--prometheus-port', '0', ...args], { stdout: 'pipe', stderr: 'pipe' });
    return { code: out.exitCode, stderr: out.stderr.toString() };
  };

  test('two paths for one model', () => {
    const got = run(['--model-path', `llama=${LLAMA_DIR}`, '--model-path', `llama=${QWEN_DIR}`]);
    expect(got.code).toBe(2);
    expect(got.stderr).toContain('--model-path');
    expect(got.stderr).toContain(`llama=${QWEN_DIR}`);
    expect(got.stderr).toContain('two paths for model llama');
  });

  test('two bare paths', () => {
    const got = run(['--tokenizer-path', LLAMA_DIR, '--tokenizer-path', QWEN_DIR]);
    expect(got.code).toBe(2);
    expect(got.stderr).toContain('--tokenizer-path');
    expect(got.stderr).toContain('name the model of each, MODEL=PATH');
  });

  test('MODEL=DIR where DIR holds no tokenizer.json', () => {
    const empty = join(scratch, 'empty');
    mkdirSync(empty, { recursive: true });
    writeFileSync(join(empty, 'config.json'), '{}');
    const got = run(['--model-path', `llama=${LLAMA_DIR}`, '--model-path', `qwen=${empty}`]);
    expect(got.code).toBe(2);
    expect(got.stderr).toContain(`--model-path qwen=${empty}: no tokenizer.json in this directory (it holds: config.json)`);
  });

  test('an item with no model or no path', () => {
    for (const item of ['=x', 'llama=']) {
      const got = run(['--model-path', item]);
      expect(got.code).toBe(2);
      expect(got.stderr).toContain('expected MODEL=PATH or PATH');
      expect(got.stderr).toContain(item);
    }
  });
});
