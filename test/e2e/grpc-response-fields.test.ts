// Request fields of vLLM's OpenAI server answered by the router's gRPC front as vLLM answers them, through the
// compiled binary with the openai SDK: `parallel_tool_calls: false` (one call returned), `return_token_ids`,
// `return_prompt_text` and chat `echo` (vllm/entrypoints/openai/chat_completion/serving.py, completion/serving.py).
import { afterAll, describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { loadStandInVocabulary, standInTokenizerDir, startGrpcEngine, type GrpcEngine, type GrpcEngineProtocol } from '../../testkit/grpc-engine.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { startRouterProcess, type RouterProcess } from '../../testkit/router-process.ts';
import { streamedToolCalls } from '../support/streamed-tool-calls.ts';

const build = buildRouterBinary();
afterAll(() => build[Symbol.dispose]());
const qwen = loadStandInVocabulary('qwen3');
const client = (r: RouterProcess) => new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'k', maxRetries: 0 });
const messages = [{ role: 'user' as const, content: 'Weather in Paris and Rome?' }];
const WEATHER_TOOL = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
const TWO_CALLS =
  'Checking both.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>';
const callsOf = (message: OpenAI.Chat.Completions.ChatCompletionMessage) =>
  (message.tool_calls ?? []).map((t) => (t.type === 'function' ? [t.function.name, JSON.parse(t.function.arguments)] : []));

describe('parallel_tool_calls on gRPC endpoints', () => {
  test('false: only the first tool call is returned, whole and streamed; unset or true: every call', async () => {
    await using engine = await startGrpcEngine({ vocab: qwen, tokenizer: 'qwen3', output: TWO_CALLS });
    await using r = await startRouterProcess(build.path, ['--worker-urls', engine.url, '--model-path', standInTokenizerDir('qwen3'), '--tokenizer-pool-size', '1']);
    const openai = client(r);
    const both = await openai.chat.completions.create({ model: 'grpc-model', messages, tools: WEATHER_TOOL });
    expect(callsOf(both.choices[0]!.message)).toEqual([
      ['get_weather', { city: 'Paris' }],
      ['get_weather', { city: 'Rome' }],
    ]);
    expect(callsOf((await openai.chat.completions.create({ model: 'grpc-model', messages, tools: WEATHER_TOOL, parallel_tool_calls: true })).choices[0]!.message)).toHaveLength(2);

    const one = await openai.chat.completions.create({ model: 'grpc-model', messages, tools: WEATHER_TOOL, parallel_tool_calls: false });
    expect(callsOf(one.choices[0]!.message)).toEqual([['get_weather', { city: 'Paris' }]]);
    expect(one.choices[0]!.message.tool_calls![0]!.id).toBeString();
    expect(one.choices[0]!.finish_reason).toBe('tool_calls');
    expect(one.choices[0]!.message.content).toBe(both.choices[0]!.message.content);

    const streamed = await streamedToolCalls(await openai.chat.completions.create({ model: 'grpc-model', messages, tools: WEATHER_TOOL, parallel_tool_calls: false, stream: true }));
    expect(streamed.calls.map((t) => [t.name, JSON.parse(t.arguments)])).toEqual([['get_weather', { city: 'Paris' }]]);
    expect(streamed.finish).toBe('tool_calls');
    expect(streamed.content).toBe('Checking both.\n');

    const refused = await openai.chat.completions.create({ model: 'grpc-model', messages, tools: WEATHER_TOOL, parallel_tool_calls: 'no' as unknown as boolean }).catch((e: unknown) => e);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
    expect((refused as InstanceType<typeof OpenAI.APIError>).message).toContain("'parallel_tool_calls' must be a boolean");
  });
});

const llama = loadStandInVocabulary('llama3_1');
const OUTPUT = 'Bonjour à tous: le café est prêt.';
const outputIds = () => [...llama.tokenizer.encode(OUTPUT, { add_special_tokens: false }).ids, llama.eosId];
const idsSent = (e: GrpcEngine, k: number) => (e.record.received[k] as { tokenized: { input_ids: number[] } }).tokenized?.input_ids ?? (e.record.received[k] as { token_ids: { ids: number[] } }).token_ids.ids;
const llamaRouter = (e: GrpcEngine) => startRouterProcess(build.path, ['--worker-urls', e.url, '--model-path', standInTokenizerDir('llama3_1'), '--tokenizer-pool-size', '1']);
async function post(r: RouterProcess, path: string, body: Record<string, unknown>) {
  const res = await fetch(`${r.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'grpc-model', ...body }) });
  const text = await res.text();
  if (!body.stream) return { status: res.status, body: JSON.parse(text) as Record<string, any>, chunks: [] as Record<string, any>[] };
  const chunks = text.split('\n\n').filter((e) => e.startsWith('data: ') && e !== 'data: [DONE]').map((e) => JSON.parse(e.slice(6)) as Record<string, any>);
  return { status: res.status, body: {} as Record<string, any>, chunks };
}
const LLAMA_CHAT = (user: string) => `<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n${user}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`;

for (const protocol of ['vllm-engine', 'vllm-inference'] as GrpcEngineProtocol[]) {
  describe(`return_token_ids on gRPC endpoints (${protocol})`, () => {
    test('chat: prompt_token_ids beside the answer, each choice\'s token_ids; streamed in the role chunk and per delta', async () => {
      await using engine = await startGrpcEngine({ vocab: llama, protocol, output: OUTPUT });
      await using r = await llamaRouter(engine);
      const messages = [{ role: 'user', content: 'Say hello.' }];
      const whole = await post(r, '/v1/chat/completions', { messages, return_token_ids: true });
      expect(whole.status).toBe(200);
      const promptIds = llama.tokenizer.encode(LLAMA_CHAT('Say hello.'), { add_special_tokens: false }).ids;
      expect(whole.body.prompt_token_ids).toEqual(promptIds);
      expect(idsSent(engine, 0)).toEqual(promptIds);
      expect(whole.body.choices[0].token_ids).toEqual(outputIds());
      expect(whole.body.choices[0].message.content).toBe(OUTPUT);
      // vLLM's key order: prompt_token_ids after prompt_logprobs.
      expect(Object.keys(whole.body).slice(-3)).toEqual(['prompt_logprobs', 'prompt_token_ids', 'kv_transfer_params']);
      // Not asked: null, as before.
      const plain = await post(r, '/v1/chat/completions', { messages });
      expect([plain.body.prompt_token_ids, plain.body.choices[0].token_ids]).toEqual([null, null]);

      const streamed = await post(r, '/v1/chat/completions', { messages, return_token_ids: true, stream: true });
      expect(streamed.chunks[0]!.prompt_token_ids).toEqual(promptIds);
      expect(streamed.chunks[0]!.choices[0].delta).toEqual({ role: 'assistant', content: '' });
      const deltas = streamed.chunks.slice(1);
      expect(deltas.flatMap((c) => c.choices[0].token_ids)).toEqual(outputIds());
      expect(deltas.map((c) => c.choices[0].delta.content ?? '').join('')).toBe(OUTPUT);
      expect(deltas.every((c) => !('prompt_token_ids' in c))).toBe(true);
    });

    test('completions: each choice\'s prompt_token_ids and token_ids; streamed, the prompt\'s ids in the first chunk of each choice', async () => {
      await using engine = await startGrpcEngine({ vocab: llama, protocol, output: OUTPUT });
      await using r = await llamaRouter(engine);
      const prompt = 'Once upon a time,';
      const promptIds = llama.tokenizer.encode(prompt).ids;
      const whole = await post(r, '/v1/completions', { prompt, max_tokens: 64, n: 2, return_token_ids: true });
      expect(whole.status).toBe(200);
      for (const choice of whole.body.choices) {
        expect(choice.prompt_token_ids).toEqual(promptIds);
        expect(choice.token_ids.length).toBeGreaterThan(0);
        expect(llama.tokenizer.decode(choice.token_ids, { skip_special_tokens: true })).toBe(choice.text);
      }
      const streamed = await post(r, '/v1/completions', { prompt, max_tokens: 64, return_token_ids: true, stream: true });
      expect(streamed.chunks[0]!.choices[0].prompt_token_ids).toEqual(promptIds);
      expect(streamed.chunks.slice(1).every((c) => c.choices[0].prompt_token_ids === null)).toBe(true);
      expect(streamed.chunks.flatMap((c) => c.choices[0].token_ids)).toEqual(outputIds());
      // echo with return_token_ids: vLLM echoes no text (the ids say it).
      const echoed = await post(r, '/v1/completions', { prompt, max_tokens: 64, echo: true, return_token_ids: true });
      expect(echoed.body.choices[0].text).toBe(OUTPUT);
      expect(echoed.body.choices[0].prompt_token_ids).toEqual(promptIds);
    });
  });
}

describe('return_prompt_text and chat echo on gRPC endpoints', () => {
  test('return_prompt_text: the prompt as the chat template rendered it, whole and in the role chunk', async () => {
    await using engine = await startGrpcEngine({ vocab: llama, output: OUTPUT });
    await using r = await llamaRouter(engine);
    const messages = [{ role: 'user', content: 'Say hello.' }];
    const whole = await post(r, '/v1/chat/completions', { messages, return_prompt_text: true });
    expect(whole.body.prompt_text).toBe(LLAMA_CHAT('Say hello.'));
    expect(whole.body.choices[0].message.content).toBe(OUTPUT);
    expect(idsSent(engine, 0)).toEqual(llama.tokenizer.encode(LLAMA_CHAT('Say hello.'), { add_special_tokens: false }).ids);
    expect('prompt_text' in (await post(r, '/v1/chat/completions', { messages })).body).toBe(false);
    const streamed = await post(r, '/v1/chat/completions', { messages, return_prompt_text: true, stream: true });
    expect(streamed.chunks[0]!.prompt_text).toBe(LLAMA_CHAT('Say hello.'));
    expect(streamed.chunks.slice(1).every((c) => !('prompt_text' in c))).toBe(true);
  });

  test('chat echo: the last message\'s content opens the answer when its role is the answer\'s, whole and streamed', async () => {
    await using engine = await startGrpcEngine({ vocab: llama, output: OUTPUT });
    await using r = await llamaRouter(engine);
    const openai = client(r);
    const partial = [
      { role: 'user' as const, content: 'Greet everyone in French.' },
      { role: 'assistant' as const, content: 'Voici:' },
    ];
    const extra = { echo: true, add_generation_prompt: false, continue_final_message: true } as Record<string, unknown>;
    const whole = await openai.chat.completions.create({ model: 'grpc-model', messages: partial, ...extra });
    expect(whole.choices[0]!.message.content).toBe(`Voici:${OUTPUT}`);
    expect(whole.choices[0]!.message.role).toBe('assistant');
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of await openai.chat.completions.create({ model: 'grpc-model', messages: partial, stream: true, ...extra })) chunks.push(chunk);
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks[1]!.choices[0]!.delta).toEqual({ content: 'Voici:' });
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(`Voici:${OUTPUT}`);
    // The last message is the user's and a generation prompt follows: nothing to echo (vLLM's rule).
    const asked = await openai.chat.completions.create({ model: 'grpc-model', messages: [{ role: 'user', content: 'hi' }], echo: true } as never);
    expect((asked as OpenAI.Chat.Completions.ChatCompletion).choices[0]!.message.content).toBe(OUTPUT);
  });
});

// vLLM's OpenAI server lists a position's alternatives from its logprob dict, which opens with the sampled token
// (vllm/v1/engine/logprobs.py): chat shows the first top_logprobs of them, completions logprobs + 1. The stand-ins
// rank id + 1 above the sampled token, as an engine often does; both servicers send only the engine's top ones.
for (const protocol of ['vllm-engine', 'vllm-inference'] as GrpcEngineProtocol[]) {
  describe(`top logprobs on gRPC endpoints (${protocol}): the sampled token first, as the HTTP path`, () => {
    test('chat top_logprobs k: the sampled token, then the engine\'s top ones without it, k in all; completions logprobs k: k + 1 at most', async () => {
      await using engine = await startGrpcEngine({ vocab: llama, protocol, output: OUTPUT });
      await using r = await llamaRouter(engine);
      const text = (id: number) => llama.tokenizer.decode([id], { skip_special_tokens: false });
      const sampled = outputIds();
      for (const k of [0, 1, 2, 3]) {
        const chat = await post(r, '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], logprobs: true, top_logprobs: k, max_tokens: 3 });
        expect(chat.status).toBe(200);
        const content = chat.body.choices[0].logprobs.content as { token: string; logprob: number; top_logprobs: { token: string; logprob: number }[] }[];
        const want = (id: number) => [id, id + 1, id + 2].slice(0, k).map(text);
        expect(content.map((c) => c.top_logprobs.map((t) => t.token))).toEqual(sampled.slice(0, 3).map(want));
        // The sampled token's own entry carries its logprob, the same as the position's.
        if (k > 0) for (const c of content) expect(c.top_logprobs[0]!.logprob).toBe(c.logprob);
      }
      for (const k of [0, 1, 2, 3]) {
        const completion = await post(r, '/v1/completions', { prompt: 'Once upon a time,', logprobs: k, max_tokens: 3 });
        const tops = completion.body.choices[0].logprobs.top_logprobs as Record<string, number>[];
        // The dict: the sampled id, then the engine's top k without it: id + 1, id + 2 … (k ≥ 2 holds the sampled id
        // once), shown up to k + 1.
        const size = k < 2 ? k + 1 : k;
        const want = (id: number) => [id, id + 1, id + 2].slice(0, size).map(text);
        expect(tops.map((t) => Object.keys(t))).toEqual(sampled.slice(0, 3).map(want));
      }
    });
  });
}
