// gRPC engine mode through the compiled binary, with the openai SDK: the router is the OpenAI server in front of
// vLLM's gRPC engines (both protocols, stand-ins generating with real tokenizers).
import { afterAll, describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { loadStandInVocabulary, standInTokenizerDir, startGrpcEngine, type GrpcEngine } from '../../testkit/grpc-engine.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { startRouterProcess, type RouterProcess } from '../../testkit/router-process.ts';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { until } from '../../testkit/until.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { streamedToolCalls } from '../support/streamed-tool-calls.ts';

const build = buildRouterBinary();
afterAll(() => build[Symbol.dispose]());
const llama = loadStandInVocabulary('llama3_1');
const LLAMA_DIR = standInTokenizerDir('llama3_1');

const router = (engines: readonly { url: string }[], extra: string[] = []): Promise<RouterProcess> =>
  startRouterProcess(build.path, ['--worker-urls', ...engines.map((e) => e.url), '--model-path', LLAMA_DIR, '--tokenizer-pool-size', '1', '--policy', 'round_robin', ...extra]);
const client = (r: RouterProcess) => new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'k', maxRetries: 0 });
const chatOf = (content: string) => [{ role: 'user' as const, content }];

async function collectChat(stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>) {
  const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  const text = (i: number) => chunks.flatMap((c) => c.choices.filter((x) => x.index === i).map((x) => x.delta.content ?? '')).join('');
  return { chunks, text };
}

describe('gRPC engine mode, VllmEngine protocol', () => {
  test('chat, streamed and not: the text of the engine tokens, EOS ends it with stop, usage and ids as vLLM', async () => {
    await using engine = await startGrpcEngine({ vocab: llama, output: 'Paris is the capital of France.', cachedTokens: 3 });
    await using r = await router([engine]);
    const openai = client(r);
    const whole = await openai.chat.completions.create({ model: 'grpc-model', messages: chatOf('Capital of France?') });
    expect(whole.choices[0]!.message.content).toBe('Paris is the capital of France.');
    expect(whole.choices[0]!.finish_reason).toBe('stop');
    expect(whole.object).toBe('chat.completion');
    expect(whole.id).toMatch(/^chatcmpl-/);
    expect(whole.system_fingerprint).toBeNull();
    const expectedTokens = llama.tokenizer.encode('Paris is the capital of France.', { add_special_tokens: false }).ids.length + 1; // + EOS
    expect(whole.usage).toMatchObject({ completion_tokens: expectedTokens, prompt_tokens_details: { cached_tokens: 3 } });
    // The router rendered the Llama 3.1 template and sent token ids; the engine got an explicit max.
    const sent = engine.record.received[0] as { tokenized: { input_ids: number[] }; sampling_params: { max_tokens: number; temperature: number } };
    expect(sent.tokenized.input_ids[0]).toBe(llama.tokenizer.token_to_id('<|begin_of_text|>'));
    expect(sent.sampling_params.max_tokens).toBe(131072 - sent.tokenized.input_ids.length);
    expect(sent.sampling_params.temperature).toBe(1);
    expect(whole.usage!.prompt_tokens).toBe(sent.tokenized.input_ids.length);

    const stream = await openai.chat.completions.create({ model: 'grpc-model', messages: chatOf('Capital of France?'), stream: true, stream_options: { include_usage: true } });
    const { chunks, text } = await collectChat(stream);
    expect(text(0)).toBe('Paris is the capital of France.');
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
    expect(finish.map((c) => c.choices[0]!.finish_reason)).toEqual(['stop']);
    const usage = chunks.at(-1)!;
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toMatchObject({ prompt_tokens: whole.usage!.prompt_tokens, completion_tokens: expectedTokens });
  });

  test('completions with stop strings: cut before the stop, stop_reason names it; include_stop_str_in_output keeps it', async () => {
    await using engine = await startGrpcEngine({ vocab: llama, output: 'one two three four five six' });
    await using r = await router([engine]);
    const openai = client(r);
    const cut = await openai.completions.create({ model: 'grpc-model', prompt: 'Count:', max_tokens: 50, stop: ['four', 'zzz'] });
    expect(cut.choices[0]!.text).toBe('one two three ');
    expect(cut.choices[0]!.finish_reason).toBe('stop');
    expect((cut.choices[0] as unknown as { stop_reason: unknown }).stop_reason).toBe('four');
    const kept = await openai.completions.create({ model: 'grpc-model', prompt: 'Count:', max_tokens: 50, stop: ['four'], include_stop_str_in_output: true } as never);
    expect((kept as OpenAI.Completions.Completion).choices[0]!.text).toBe('one two three four');
    const streamed = await openai.completions.create({ model: 'grpc-model', prompt: 'Count:', max_tokens: 50, stop: ['thr'], stream: true });
    let text = '';
    for await (const chunk of streamed) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe('one two ');
    const length = await openai.completions.create({ model: 'grpc-model', prompt: 'Count:', max_tokens: 2 });
    expect(length.choices[0]).toMatchObject({ text: 'one two', finish_reason: 'length' });
  });

  test('n > 1: every choice streams its own text and finish', async () => {
    await using engine = await startGrpcEngine({ vocab: llama, output: 'red green blue' });
    await using r = await router([engine]);
    const stream = await client(r).chat.completions.create({ model: 'grpc-model', messages: chatOf('colours'), n: 3, stream: true });
    const { chunks, text } = await collectChat(stream);
    expect([text(0), text(1), text(2)]).toEqual(['red green blue', 'green blue red', 'blue red green']);
    expect(chunks.filter((c) => c.choices[0]?.finish_reason === 'stop').map((c) => c.choices[0]!.index).sort()).toEqual([0, 1, 2]);
    const whole = await client(r).chat.completions.create({ model: 'grpc-model', messages: chatOf('colours'), n: 2 });
    expect(whole.choices.map((c) => c.message.content)).toEqual(['red green blue', 'green blue red']);
  });

  test('a multi-byte character split across tokens never reaches the client in halves (byte-level BPE and byte fallback)', async () => {
    const output = 'Fête 🎉 au 東京 ꙮ!';
    await using engine = await startGrpcEngine({ vocab: llama, output, tokensPerMessage: 1 });
    await using r = await router([engine]);
    const { chunks, text } = await collectChat(await client(r).chat.completions.create({ model: 'grpc-model', messages: chatOf('x'), stream: true }));
    expect(text(0)).toBe(output);
    expect(chunks.some((c) => (c.choices[0]?.delta.content ?? '').includes('\uFFFD'))).toBe(false);
    const ids = llama.tokenizer.encode(output, { add_special_tokens: false }).ids;
    expect(ids.length).toBeGreaterThan([...output].length - 6); // the emoji and the CJK run take several byte tokens

    const llama2 = loadStandInVocabulary('llama2');
    const byteFallback = llama2.tokenizer.encode(output, { add_special_tokens: false }).tokens.filter((t) => /^<0x[0-9A-F]{2}>$/.test(t));
    expect(byteFallback.length).toBeGreaterThan(0);
    await using engine2 = await startGrpcEngine({ vocab: llama2, tokenizer: 'llama2', output });
    await using r2 = await startRouterProcess(build.path, ['--worker-urls', engine2.url, '--model-path', standInTokenizerDir('llama2'), '--tokenizer-pool-size', '1']);
    const parts: string[] = [];
    for await (const c of await client(r2).completions.create({ model: 'grpc-model', prompt: 'x', max_tokens: 100, stream: true })) parts.push(c.choices[0]?.text ?? '');
    expect(parts.some((p) => p.includes('\uFFFD'))).toBe(false);
    expect(parts.join('')).toBe(` ${output}`);
  });

  test('a client that leaves mid-stream aborts the request on the engine', async () => {
    await using engine = await startGrpcEngine({ vocab: llama, output: 'tick '.repeat(50), eosAtEnd: false, itlMs: 20 });
    await using r = await router([engine]);
    const controller = new AbortController();
    const stream = await client(r).chat.completions.create({ model: 'grpc-model', messages: chatOf('go'), stream: true, max_tokens: 10000 }, { signal: controller.signal });
    let seen = 0;
    try {
      for await (const _ of stream) if (++seen === 3) controller.abort();
    } catch {
      // the SDK's abort
    }
    await until(() => engine.record.aborted.length === 1 && engine.record.running === 0, 'the engine is told to abort');
    const id = (engine.record.received[0] as { request_id: string }).request_id;
    expect(engine.record.aborted).toEqual([id]);
    await until(async () => metricValue(await r.scrape(), 'vllm_router_grpc_aborts_total', { reason: 'client_closed' }) === 1, 'the abort is counted');
  });

  test('an engine killed mid-stream: the client gets a clear SSE error after the text it was sent', async () => {
    await using engine = await startGrpcEngine({ vocab: llama, output: 'alpha beta gamma delta epsilon zeta', failure: { kind: 'kill', afterTokens: 3 } });
    await using r = await router([engine]);
    const res = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'grpc-model', messages: chatOf('go'), stream: true }) });
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain('"content":"alpha"');
    const events = body.split('\n\n').filter((e) => e.startsWith('data: '));
    expect(events.at(-1)).toBe('data: [DONE]');
    const error = JSON.parse(events.at(-2)!.slice(6)) as { error: { message: string; code: string } };
    expect(error.error.code).toBe('stream_interrupted');
    expect(error.error.message).toContain('gRPC engine grpc://127.0.0.1');
    expect(metricValue(await r.scrape(), 'vllm_router_stream_outcomes_total', { outcome: 'upstream_error' })).toBe(1);
  });

  test('an engine that fails before the first token is retried on another; a bad request is a 400, an unknown model a 404', async () => {
    await using down = await startGrpcEngine({ vocab: llama, output: 'ok', failure: { kind: 'status', code: 14, times: 1 } });
    await using up = await startGrpcEngine({ vocab: llama, output: 'ok' });
    await using r = await router([down, up]);
    const openai = client(r);
    for (let i = 0; i < 2; i++) expect((await openai.chat.completions.create({ model: 'grpc-model', messages: chatOf('x') })).choices[0]!.message.content).toBe('ok');
    expect(metricValue(await r.scrape(), 'vllm_router_retries_total', {})).toBeGreaterThanOrEqual(1);
    const bad = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'grpc-model', messages: chatOf('x'), temperature: -1 }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string; param: string } }).error).toMatchObject({ message: 'temperature must be non-negative, got -1.', param: 'temperature' });
    const unknown = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'nope', messages: chatOf('x') }) });
    expect(unknown.status).toBe(404);
    // The router knows what the gRPC engine serves (its model info): an unknown model is its own 404.
    expect(((await unknown.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'model_not_found', message: expect.stringContaining('grpc-model') });
  });

  test('embeddings go through Embed; /v1/models lists the engine model', async () => {
    await using engine = await startGrpcEngine({ vocab: llama, embeddingDim: 4 });
    await using r = await router([engine]);
    const openai = client(r);
    const e = await openai.embeddings.create({ model: 'grpc-model', input: ['hello', 'world'] });
    expect(e.data.map((d) => d.embedding.length)).toEqual([4, 4]);
    expect(e.usage.prompt_tokens).toBeGreaterThan(0);
    const models = await openai.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['grpc-model']);
  });
});

describe('gRPC engine mode, vllm.Inference protocol', () => {
  test('chat streams the engine text; a client that leaves is aborted with Control.Abort (a dropped stream does not abort there)', async () => {
    await using engine = await startGrpcEngine({ vocab: llama, protocol: 'vllm-inference', output: 'Bonjour 🎉 le monde' });
    await using r = await router([engine]);
    const { text } = await collectChat(await client(r).chat.completions.create({ model: 'grpc-model', messages: chatOf('hi'), stream: true }));
    expect(text(0)).toBe('Bonjour 🎉 le monde');
    const sent = engine.record.received[0] as { stopping: { max_new_tokens: number }; token_ids: { ids: number[] } };
    expect(sent.stopping.max_new_tokens).toBe(131072 - sent.token_ids.ids.length);
    engine.options.itlMs = 20;
    engine.options.eosAtEnd = false;
    const controller = new AbortController();
    const stream = await client(r).chat.completions.create({ model: 'grpc-model', messages: chatOf('go'), stream: true, max_tokens: 10000 }, { signal: controller.signal });
    let seen = 0;
    try {
      for await (const _ of stream) if (++seen === 3) controller.abort();
    } catch {}
    await until(() => engine.record.aborted.length === 1 && engine.record.running === 0, 'Control.Abort stops the generation');
  });
});

describe('a mixed HTTP + gRPC fleet', () => {
  test('chat goes to both kinds; routes gRPC engines do not serve go to the HTTP endpoint; same text and fields either way', async () => {
    await using http = await spawnMockEngine(['--model', 'grpc-model', '--tokens', 'The quick brown fox', '--default-max-tokens', '4']);
    await using grpc = await startGrpcEngine({ vocab: llama, output: 'The quick brown fox' });
    await using r = await router([http, grpc]);
    const ask = async () => (await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'grpc-model', messages: chatOf('x') }) })).json() as Promise<Record<string, any>>;
    const [a, b] = [await ask(), await ask()];
    const keys = (v: unknown): unknown => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, keys(x)])) : Array.isArray(v) ? v.map(keys) : typeof v);
    expect(keys(a)).toEqual(keys(b));
    expect(a.choices[0].message.content).toBe('The quick brown fox');
    expect(b.choices[0].message.content).toBe('The quick brown fox');
    expect([a.choices[0].finish_reason, b.choices[0].finish_reason]).toEqual(['stop', 'stop']);
    expect(engineCount(grpc)).toBe(1);
    const streamOf = async () => {
      const res = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'grpc-model', messages: chatOf('x'), stream: true, stream_options: { include_usage: true } }) });
      const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)) as Record<string, any>);
      return { text: events.map((e) => e.choices[0]?.delta?.content ?? '').join(''), first: keys(events[0]), last: keys(events.at(-1)), objects: new Set(events.map((e) => e.object)) };
    };
    const [s1, s2] = [await streamOf(), await streamOf()];
    expect(s1.text).toBe('The quick brown fox');
    expect(s2.text).toBe('The quick brown fox');
    expect(s1.first).toEqual(s2.first);
    expect(s1.last).toEqual(s2.last);
    expect(s1.objects).toEqual(s2.objects);
    // /v1/responses is not a gRPC route: it goes to the HTTP endpoint.
    const responses = await fetch(`${r.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'grpc-model', input: 'hi' }) });
    expect(responses.status).toBe(200);
    expect(engineCount(grpc)).toBe(2);
  });

  test('a gRPC-only fleet answers a route it cannot serve with a clear 501', async () => {
    await using grpc = await startGrpcEngine({ vocab: llama });
    await using r = await router([grpc]);
    const res = await fetch(`${r.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'grpc-model', input: 'hi' }) });
    expect(res.status).toBe(501);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('gRPC endpoints answer only /v1/chat/completions');
  });
});

const engineCount = (engine: GrpcEngine) => engine.record.received.length;

const WEATHER_TOOL = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];


describe('tool calls and reasoning on gRPC endpoints', () => {
  const cases = [
    { format: 'hermes', tokenizer: 'qwen3' as const, output: 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>', flags: [], content: 'Let me check.\n' },
    { format: 'llama3_json', tokenizer: 'llama3_1' as const, output: '{"name": "get_weather", "parameters": {"city": "Paris"}}', flags: ['--tool-call-parser', 'llama3_json'], content: null },
    { format: 'mistral', tokenizer: 'llama3_1' as const, output: '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}]', flags: ['--tool-call-parser', 'mistral'], content: null },
  ];
  for (const c of cases) {
    test(`${c.format}: the call comes back in tool_calls, streamed as deltas and whole, with finish_reason tool_calls`, async () => {
      const vocab = c.tokenizer === 'llama3_1' ? llama : loadStandInVocabulary(c.tokenizer);
      await using engine = await startGrpcEngine({ vocab, tokenizer: c.tokenizer, output: c.output });
      await using r = await startRouterProcess(build.path, ['--worker-urls', engine.url, '--model-path', standInTokenizerDir(c.tokenizer), '--tokenizer-pool-size', '1', ...c.flags]);
      const openai = client(r);
      const whole = await openai.chat.completions.create({ model: 'grpc-model', messages: chatOf('Weather in Paris?'), tools: WEATHER_TOOL });
      const message = whole.choices[0]!.message;
      expect(message.tool_calls?.map((t) => (t.type === 'function' ? [t.function.name, JSON.parse(t.function.arguments)] : []))).toEqual([['get_weather', { city: 'Paris' }]]);
      expect(message.content).toBe(c.content);
      expect(whole.choices[0]!.finish_reason).toBe('tool_calls');
      const streamed = await streamedToolCalls(await openai.chat.completions.create({ model: 'grpc-model', messages: chatOf('Weather in Paris?'), tools: WEATHER_TOOL, stream: true }));
      expect(streamed.calls.map((t) => [t.name, JSON.parse(t.arguments)])).toEqual([['get_weather', { city: 'Paris' }]]);
      expect(streamed.calls[0]!.id).toBeString();
      expect(streamed.finish).toBe('tool_calls');
      // Without tools in the request the same output is plain content.
      const plain = await openai.chat.completions.create({ model: 'grpc-model', messages: chatOf('Weather in Paris?') });
      expect(plain.choices[0]!.message.content).toBe(c.output);
    });
  }

  test('qwen3 reasoning: <think>…</think> goes to reasoning, the rest to content, streamed and whole', async () => {
    const qwen = loadStandInVocabulary('qwen3');
    await using engine = await startGrpcEngine({ vocab: qwen, tokenizer: 'qwen3', output: '<think>Two plus two is four.</think>The answer is 4.' });
    await using r = await startRouterProcess(build.path, ['--worker-urls', engine.url, '--model-path', standInTokenizerDir('qwen3'), '--tokenizer-pool-size', '1', '--reasoning-parser', 'qwen3']);
    const openai = client(r);
    const whole = await openai.chat.completions.create({ model: 'grpc-model', messages: chatOf('2+2?') });
    const message = whole.choices[0]!.message as unknown as { content: string; reasoning: string };
    expect(message.reasoning).toBe('Two plus two is four.');
    expect(message.content).toBe('The answer is 4.');
    let reasoning = '';
    let content = '';
    for await (const chunk of await openai.chat.completions.create({ model: 'grpc-model', messages: chatOf('2+2?'), stream: true })) {
      const delta = chunk.choices[0]?.delta as { content?: string; reasoning?: string } | undefined;
      reasoning += delta?.reasoning ?? '';
      content += delta?.content ?? '';
    }
    expect([reasoning, content]).toEqual(['Two plus two is four.', 'The answer is 4.']);
  });
});

describe('HTTP/2 soak (Bun node:http2 under grpc-js)', () => {
  test('many concurrent long streams and 32k-token prompts: every token of every stream arrives, in order', async () => {
    const output = 'Streams of tokens flow through one HTTP/2 connection without a stall.';
    await using engine = await startGrpcEngine({ vocab: llama, output, eosAtEnd: false, tokensPerMessage: 1 });
    await using r = await router([engine]);
    const base = llama.tokenizer.encode(output, { add_special_tokens: false }).ids;
    const TOKENS = 400;
    const expected = llama.tokenizer.decode(Array.from({ length: TOKENS }, (_, k) => base[k % base.length]!), { skip_special_tokens: true });
    const stream = async (prompt: readonly number[] | string) => {
      const res = await fetch(`${r.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'grpc-model', prompt, max_tokens: TOKENS, stream: true, stream_options: { include_usage: true } }),
      });
      const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)) as { choices: { text: string }[]; usage?: { completion_tokens: number; prompt_tokens: number } });
      return { text: events.map((e) => e.choices[0]?.text ?? '').join(''), usage: events.at(-1)!.usage! };
    };
    const LONG = Array.from({ length: 32_768 }, (_, k) => 1000 + (k % 50_000));
    const results = await Promise.all([
      ...Array.from({ length: 96 }, (_, k) => stream(`prompt ${k}`)),
      ...Array.from({ length: 8 }, () => stream(LONG)),
    ]);
    for (const result of results) {
      expect(result.usage.completion_tokens).toBe(TOKENS);
      expect(result.text).toBe(expected);
    }
    expect(results.slice(96).map((x) => x.usage.prompt_tokens)).toEqual(Array(8).fill(32_768));
    const long = engine.record.received.filter((m) => ((m as { tokenized: { input_ids: number[] } }).tokenized.input_ids.length === 32_768));
    expect(long.length).toBe(8);
  });
});
