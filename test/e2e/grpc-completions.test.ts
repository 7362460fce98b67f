// Completions fields on gRPC endpoints through the compiled binary with the openai SDK: batched prompts (one engine
// request each, vLLM's choice indices, usage summed), echo, prompt logprobs, and the sampling fields each protocol
// carries (allowed_token_ids, min_tokens, truncate_prompt_tokens), with a 400 naming each field one cannot honour.
import { afterAll, describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { loadStandInVocabulary, standInTokenizerDir, startGrpcEngine, type GrpcEngineProtocol } from '../../testkit/grpc-engine.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { startRouterProcess, type RouterProcess } from '../../testkit/router-process.ts';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { until } from '../../testkit/until.ts';

const build = buildRouterBinary();
afterAll(() => build[Symbol.dispose]());
const llama = loadStandInVocabulary('llama3_1');
const LLAMA_DIR = standInTokenizerDir('llama3_1');
const OUTPUT = 'The quick brown fox';

const router = (urls: readonly string[], extra: string[] = []): Promise<RouterProcess> =>
  startRouterProcess(build.path, ['--worker-urls', ...urls, '--model-path', LLAMA_DIR, '--tokenizer-pool-size', '1', '--policy', 'round_robin', ...extra]);
const client = (r: RouterProcess) => new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'k', maxRetries: 0 });
const encode = (text: string, special = true) => llama.tokenizer.encode(text, { add_special_tokens: special }).ids;
const decode = (ids: readonly number[]) => llama.tokenizer.decode([...ids], { skip_special_tokens: false });

async function post(r: RouterProcess, body: Record<string, unknown>, path = '/v1/completions') {
  const res = await fetch(`${r.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'grpc-model', ...body }) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

/** A stream's text per choice index, the finish per index, and the chunks. */
async function collect(stream: AsyncIterable<OpenAI.Completions.Completion>) {
  const chunks: OpenAI.Completions.Completion[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  const texts = new Map<number, string>();
  const finishes = new Map<number, string | null>();
  for (const c of chunks)
    for (const choice of c.choices) {
      texts.set(choice.index, (texts.get(choice.index) ?? '') + choice.text);
      if (choice.finish_reason) finishes.set(choice.index, choice.finish_reason);
    }
  return { chunks, texts, finishes, usage: chunks.at(-1)?.usage };
}

/** Choice i of n writes the output rotated to start at word i (the stand-in's rule). */
const rotated = (i: number) => {
  const words = OUTPUT.split(' ');
  return [...words.slice(i % words.length), ...words.slice(0, i % words.length)].join(' ');
};

for (const protocol of ['vllm-engine', 'vllm-inference'] as const satisfies readonly GrpcEngineProtocol[]) {
  describe(`completions on ${protocol}`, () => {
    test('a batch of prompts (strings, then token-id lists): one engine request each, index = prompt * n + i, usage summed, streamed and not', async () => {
      await using engine = await startGrpcEngine({ vocab: llama, protocol, output: OUTPUT });
      await using r = await router([engine.url]);
      const openai = client(r);
      const prompts = ['Hello there', 'A longer second prompt here'];
      const whole = await openai.completions.create({ model: 'grpc-model', prompt: prompts, n: 2, max_tokens: 16 });
      expect(whole.choices.map((c) => [c.index, c.text, c.finish_reason])).toEqual([
        [0, rotated(0), 'stop'],
        [1, rotated(1), 'stop'],
        [2, rotated(0), 'stop'],
        [3, rotated(1), 'stop'],
      ]);
      const promptTokens = encode(prompts[0]!).length + encode(prompts[1]!).length;
      const completionTokens = 2 * (encode(rotated(0), false).length + 1 + encode(rotated(1), false).length + 1); // each with its EOS
      expect(whole.usage).toMatchObject({ prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens });
      const sent = engine.record.received as Record<string, any>[];
      expect(sent.map((m) => m.request_id)).toEqual([`${whole.id}-0`, `${whole.id}-1`]);
      const idsOf = (m: Record<string, any>) => (protocol === 'vllm-engine' ? m.tokenized.input_ids : m.token_ids.ids);
      expect(sent.map(idsOf)).toEqual(prompts.map((p) => encode(p)));

      const s = await collect(await openai.completions.create({ model: 'grpc-model', prompt: prompts, n: 2, max_tokens: 16, stream: true, stream_options: { include_usage: true } }));
      expect([...s.texts.entries()].sort(([a], [b]) => a - b)).toEqual([
        [0, rotated(0)],
        [1, rotated(1)],
        [2, rotated(0)],
        [3, rotated(1)],
      ]);
      expect([...s.finishes.values()]).toEqual(['stop', 'stop', 'stop', 'stop']);
      expect(s.usage).toMatchObject({ prompt_tokens: promptTokens, completion_tokens: completionTokens });

      const ids = await openai.completions.create({ model: 'grpc-model', prompt: [encode('one'), encode('two three')], max_tokens: 16 });
      expect(ids.choices.map((c) => [c.index, c.text])).toEqual([
        [0, OUTPUT],
        [1, OUTPUT],
      ]);
      expect(ids.usage!.prompt_tokens).toBe(encode('one').length + encode('two three').length);
    });

    test('one prompt of a batch refused by the engine: the 400 it gave, and the batch\'s other engine request is stopped', async () => {
      await using engine = await startGrpcEngine({ vocab: llama, protocol, output: OUTPUT, ttftMs: 300, itlMs: 50, failure: { kind: 'status', code: 3, message: 'prompt 0 is too long', times: 1 } });
      await using r = await router([engine.url]);
      const res = await fetch(`${r.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'batchfail' },
        body: JSON.stringify({ model: 'grpc-model', prompt: ['first', 'second'], max_tokens: 16 }),
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain('prompt 0 is too long');
      await until(() => engine.record.aborted.includes('cmpl-batchfail-1') && engine.record.running === 0, 'the other prompt\'s engine request is aborted');
    });

    test('bad batches: an empty list, mixed types, an empty token list, too many prompts: a 400 naming prompt; the router keeps serving', async () => {
      await using engine = await startGrpcEngine({ vocab: llama, protocol, output: OUTPUT });
      await using r = await router([engine.url]);
      const cases: [unknown, string][] = [
        [[], 'non-empty'],
        [['a', [1, 2]], "'prompt' must not mix types"],
        [[[1, 2], []], "'prompt[1]' must be a non-empty list"],
        [Array.from({ length: 257 }, () => 'x'), 'at most 256'],
      ];
      for (const [prompt, message] of cases) {
        const got = await post(r, { prompt, max_tokens: 4 });
        expect(got.status).toBe(400);
        expect(got.body.error.param).toBe('prompt');
        expect(got.body.error.message).toContain(message);
      }
      expect(engine.record.received.length).toBe(0);
      expect((await post(r, { prompt: 'still here', max_tokens: 4 })).status).toBe(200);
    });

    test('echo: the prompt opens each choice, streamed and not; with max_tokens 0 the prompt alone; token ids echo as decoded', async () => {
      await using engine = await startGrpcEngine({ vocab: llama, protocol, output: OUTPUT });
      await using r = await router([engine.url]);
      const openai = client(r);
      const whole = await openai.completions.create({ model: 'grpc-model', prompt: ['Say:', 'Or:'], echo: true, max_tokens: 16 });
      expect(whole.choices.map((c) => c.text)).toEqual([`Say:${OUTPUT}`, `Or:${OUTPUT}`]);
      const s = await collect(await openai.completions.create({ model: 'grpc-model', prompt: 'Say:', echo: true, max_tokens: 16, stream: true }));
      expect(s.texts.get(0)).toBe(`Say:${OUTPUT}`);
      expect(s.chunks[0]!.choices[0]!.text.startsWith('Say:')).toBe(true);
      const only = await openai.completions.create({ model: 'grpc-model', prompt: 'Say:', echo: true, max_tokens: 0 });
      expect(only.choices[0]!.text).toBe('Say:');
      const sent = engine.record.received.at(-1) as Record<string, any>;
      expect(protocol === 'vllm-engine' ? sent.sampling_params.max_tokens : sent.stopping.max_new_tokens).toBe(1); // vLLM generates one token it does not show
      const ids = await openai.completions.create({ model: 'grpc-model', prompt: encode('Say:'), echo: true, max_tokens: 16 });
      expect(ids.choices[0]!.text).toBe(`${decode(encode('Say:'))}${OUTPUT}`); // the BOS token's text included, as vLLM decodes it
    });

    test('echo with logprobs: the prompt\'s logprobs (first null) open the choice\'s; prompt_logprobs in vLLM\'s shape; refused on streams', async () => {
      await using engine = await startGrpcEngine({ vocab: llama, protocol, output: OUTPUT });
      await using r = await router([engine.url]);
      const prompt = 'Say it';
      const promptIds = encode(prompt);
      const got = await post(r, { prompt, echo: true, logprobs: 1, max_tokens: 16 });
      expect(got.status).toBe(200);
      const choice = got.body.choices[0];
      const lp = choice.logprobs;
      const outputIds = [...encode(OUTPUT, false), llama.eosId];
      expect(lp.tokens.length).toBe(promptIds.length + outputIds.length);
      expect(lp.token_logprobs[0]).toBeNull();
      expect(lp.top_logprobs[0]).toBeNull();
      expect(lp.token_logprobs.slice(1, promptIds.length)).toEqual(promptIds.slice(1).map((_, k) => -0.5 - 0.125 * ((k + 1) % 4)));
      expect(lp.tokens.slice(0, promptIds.length)).toEqual(promptIds.map((id) => llama.tokenizer.decode([id], { skip_special_tokens: false })));
      // Offsets run over the tokens' texts from the first prompt token on.
      expect(lp.text_offset[0]).toBe(0);
      expect(lp.text_offset[1]).toBe(lp.tokens[0].length);
      // echo + logprobs asks the engine for the prompt's logprobs, and vLLM returns them as prompt_logprobs too.
      expect(choice.prompt_logprobs[0]).toBeNull();
      const second = promptIds[1]!;
      expect(choice.prompt_logprobs[1]).toEqual({ [String(second)]: { logprob: -0.625, rank: 1, decoded_token: llama.tokenizer.decode([second], { skip_special_tokens: false }) } });

      const asked = await post(r, { prompt, prompt_logprobs: 2, max_tokens: 4 });
      expect(asked.status).toBe(200);
      const positions = asked.body.choices[0].prompt_logprobs;
      expect(positions.length).toBe(promptIds.length);
      expect(Object.keys(positions[1])).toEqual([String(second), String(second + 1)]);
      expect(positions[1][String(second + 1)]).toMatchObject({ logprob: -4, rank: 2 });
      expect(asked.body.choices[0].logprobs).toBeNull();
      const chat = await post(r, { messages: [{ role: 'user', content: 'hi' }], prompt_logprobs: 0, max_tokens: 4 }, '/v1/chat/completions');
      expect(chat.status).toBe(200);
      expect(chat.body.prompt_logprobs[0]).toBeNull();
      expect(Object.keys(chat.body.prompt_logprobs[1]).length).toBe(1);

      // return_tokens_as_token_ids: logprob tokens written `token_id:N`, the prompt's (echoed) and the output's.
      const asIds = await post(r, { prompt, echo: true, logprobs: 0, max_tokens: 2, return_tokens_as_token_ids: true });
      expect(asIds.body.choices[0].logprobs.tokens).toEqual([...promptIds, ...outputIds.slice(0, 2)].map((id) => `token_id:${id}`));

      const streamed = await post(r, { prompt, prompt_logprobs: 1, stream: true });
      expect(streamed).toMatchObject({ status: 400, body: { error: { message: '`prompt_logprobs` are not available when `stream=True`.', param: 'prompt_logprobs' } } });
    });

    test('min_tokens holds EOS back; truncate_prompt_tokens keeps the prompt\'s last tokens (the engine gets them, usage counts them)', async () => {
      await using engine = await startGrpcEngine({ vocab: llama, protocol, output: OUTPUT });
      await using r = await router([engine.url]);
      const openai = client(r);
      const natural = encode(OUTPUT, false).length + 1;
      // vLLM's extra fields go through the SDK as they do in vLLM's docs (extra_body in Python).
      const held = await openai.completions.create({ model: 'grpc-model', prompt: 'go', max_tokens: 32, min_tokens: natural + 3 } as OpenAI.Completions.CompletionCreateParamsNonStreaming);
      expect(held.usage!.completion_tokens).toBe(natural + 4); // min_tokens tokens, then the EOS
      expect(held.choices[0]!.finish_reason).toBe('stop');
      const long = 'one two three four five six seven eight';
      const cut = await openai.completions.create({ model: 'grpc-model', prompt: long, max_tokens: 4, truncate_prompt_tokens: 3 } as OpenAI.Completions.CompletionCreateParamsNonStreaming);
      expect(cut.usage!.prompt_tokens).toBe(3);
      const sent = engine.record.received.at(-1) as Record<string, any>;
      expect(protocol === 'vllm-engine' ? sent.tokenized.input_ids : sent.token_ids.ids).toEqual(encode(long).slice(-3));
    });
  });
}

describe('sampling fields a protocol does not carry', () => {
  test('allowed_token_ids and logprob_token_ids on vllm.Inference (output restricted, those logprobs returned); on VllmEngine each is a 400 naming the field and the protocol', async () => {
    await using inference = await startGrpcEngine({ vocab: llama, protocol: 'vllm-inference', output: OUTPUT });
    await using r = await router([inference.url]);
    const allowed = encode(' fox', false);
    const got = await post(r, { prompt: 'go', max_tokens: 5, allowed_token_ids: allowed });
    expect(got.status).toBe(200);
    expect(got.body.choices[0].text).toBe(' fox'.repeat(5));
    expect(got.body.choices[0].finish_reason).toBe('length'); // EOS is not allowed either
    expect((inference.record.received[0] as Record<string, any>).decoding.allowed_token_ids).toEqual(allowed);
    // logprob_token_ids: those tokens' logprobs at every position, whatever was sampled, after the sampled token's
    // own (vLLM's logprob dict opens with it, and every entry is shown).
    const [a, b] = [encode(' quick', false)[0]!, encode(' lazy', false)[0]!];
    const named = await post(r, { prompt: 'go', max_tokens: 3, logprobs: 0, logprob_token_ids: [a, b] });
    expect(named.status).toBe(200);
    const tops = named.body.choices[0].logprobs.top_logprobs as Record<string, number>[];
    const sampled = named.body.choices[0].logprobs.tokens as string[];
    expect(sampled).toEqual(['The', ' quick', ' brown']);
    expect(tops.map((top) => Object.keys(top))).toEqual([['The', ' quick', ' lazy'], [' quick', ' lazy'], [' brown', ' quick', ' lazy']]);
    expect(tops[1]![' quick']).toBe(named.body.choices[0].logprobs.token_logprobs[1]); // the second token sampled is " quick": its own logprob
    const chat = await post(r, { messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, logprobs: true, logprob_token_ids: [a] }, '/v1/chat/completions');
    expect(chat.body.choices[0].logprobs.content.map((c: Record<string, any>) => c.top_logprobs.map((t: Record<string, any>) => t.token))).toEqual([['The', ' quick'], [' quick']]);

    await using engine = await startGrpcEngine({ vocab: llama, protocol: 'vllm-engine', output: OUTPUT });
    await using r2 = await router([engine.url]);
    const refused = await post(r2, { prompt: 'go', max_tokens: 5, allowed_token_ids: allowed });
    expect(refused.status).toBe(400);
    expect(refused.body.error.param).toBe('allowed_token_ids');
    expect(refused.body.error.message).toContain('VllmEngine');
    for (const [field, value] of [['cache_salt', 'salt'], ['session_id', 's1'], ['priority', 3], ['logprob_token_ids', [a]]] as const) {
      const got = await post(r2, { prompt: 'go', max_tokens: 5, logprobs: 0, [field]: value });
      expect([field, got.status, got.body.error?.param]).toEqual([field, 400, field]);
    }
    expect(engine.record.received.length).toBe(0);
  });

  test('fields neither protocol carries: a 400 naming each (bad_words, vllm_xargs, suffix, chat_template, …)', async () => {
    await using engine = await startGrpcEngine({ vocab: llama, protocol: 'vllm-engine', output: OUTPUT });
    await using r = await router([engine.url]);
    const fields: [string, unknown][] = [
      ['bad_words', ['fox']],
      ['vllm_xargs', { a: 1 }],
      ['thinking_token_budget', 10],
      ['repetition_detection', { min_ngram: 2 }],
      ['kv_transfer_params', { do_remote_prefill: true }],
      ['suffix', 'end'],
      ['prompt_embeds', 'AAAA'],
    ];
    for (const [field, value] of fields) {
      const got = await post(r, { prompt: 'go', max_tokens: 4, [field]: value });
      expect([field, got.status, got.body.error?.param]).toEqual([field, 400, field]);
    }
    const chat = await post(r, { messages: [{ role: 'user', content: 'hi' }], chat_template: '{{ messages }}' }, '/v1/chat/completions');
    expect(chat.status).toBe(400);
    expect(chat.body.error.message).toContain('--trust-request-chat-template');
    // vLLM's defaults are no requests: they pass.
    expect((await post(r, { prompt: 'go', max_tokens: 4, bad_words: [], thinking_token_budget: -1, return_token_ids: false })).status).toBe(200);
    expect(engine.record.received.length).toBe(1);
  });
});

describe('batched completions: the same answer as the HTTP path', () => {
  test('a mixed HTTP + gRPC fleet answers a batch of prompts with the same choices, texts and fields either way', async () => {
    await using http = await spawnMockEngine(['--model', 'grpc-model', '--tokens', OUTPUT, '--default-max-tokens', '4']);
    // The HTTP stand-in's toy tokenizer writes a space before its first word: the gRPC one is told to write the same.
    await using grpc = await startGrpcEngine({ vocab: llama, output: ` ${OUTPUT}` });
    await using r = await router([http.url, grpc.url]);
    const ask = async () => (await post(r, { prompt: ['first', 'second', 'third'] })).body;
    const [a, b] = [await ask(), await ask()];
    const keys = (v: unknown): unknown => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, keys(x)])) : Array.isArray(v) ? v.map(keys) : typeof v);
    expect(keys(a)).toEqual(keys(b));
    const choices = (x: Record<string, any>) => x.choices.map((c: Record<string, any>) => [c.index, c.text]);
    expect(choices(a)).toEqual([
      [0, ` ${OUTPUT}`],
      [1, ` ${OUTPUT}`],
      [2, ` ${OUTPUT}`],
    ]);
    expect(choices(b)).toEqual(choices(a));
    expect(grpc.record.received.length).toBe(3);
    // echo: the prompt opens each choice either way.
    const echoed = async () => (await post(r, { prompt: ['first', 'second'], echo: true })).body;
    const [e1, e2] = [await echoed(), await echoed()];
    expect(keys(e1)).toEqual(keys(e2));
    expect(choices(e1)).toEqual([
      [0, `first ${OUTPUT}`],
      [1, `second ${OUTPUT}`],
    ]);
    expect(choices(e2)).toEqual(choices(e1));
    // Streamed: the same text per index, the same chunk fields, the same usage chunk.
    const streamOf = async () => {
      const res = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'grpc-model', prompt: ['first', 'second'], stream: true, stream_options: { include_usage: true } }) });
      const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)) as Record<string, any>);
      const texts: Record<number, string> = {};
      for (const e of events) for (const c of e.choices) texts[c.index] = (texts[c.index] ?? '') + c.text;
      return { texts, first: keys(events[0]), last: keys(events.at(-1)), usage: events.at(-1)!.usage };
    };
    const [s1, s2] = [await streamOf(), await streamOf()];
    expect(s1.texts).toEqual({ 0: ` ${OUTPUT}`, 1: ` ${OUTPUT}` });
    expect(s2.texts).toEqual(s1.texts);
    expect(s1.first).toEqual(s2.first);
    expect(s1.last).toEqual(s2.last);
  });
});

describe('chat template fields on gRPC endpoints', () => {
  test('reasoning_effort reaches the chat template as vLLM passes it: "none" turns Qwen3 thinking off (an empty think block in the prompt)', async () => {
    const qwen = loadStandInVocabulary('qwen3');
    await using engine = await startGrpcEngine({ vocab: qwen, tokenizer: 'qwen3', output: 'Four.' });
    await using r = await startRouterProcess(build.path, ['--worker-urls', engine.url, '--model-path', standInTokenizerDir('qwen3'), '--tokenizer-pool-size', '1']);
    const messages = [{ role: 'user', content: 'Two plus two?' }];
    const promptOf = (m: Record<string, any>) => qwen.tokenizer.decode(m.tokenized.input_ids, { skip_special_tokens: false });
    expect((await post(r, { messages, max_tokens: 4 }, '/v1/chat/completions')).status).toBe(200);
    expect((await post(r, { messages, max_tokens: 4, reasoning_effort: 'none' }, '/v1/chat/completions')).status).toBe(200);
    expect((await post(r, { messages, max_tokens: 4, reasoning_effort: 'none', chat_template_kwargs: { enable_thinking: true } }, '/v1/chat/completions')).status).toBe(200);
    const [plain, off, kept] = (engine.record.received as Record<string, any>[]).map(promptOf);
    expect(plain!.endsWith('<|im_start|>assistant\n')).toBe(true);
    expect(off).toBe(`${plain}<think>\n\n</think>\n\n`);
    expect(kept).toBe(plain); // the request's own enable_thinking wins
  });
});

describe('reasoning on gRPC endpoints', () => {
  test('include_reasoning: false parses the reasoning off and sends none of it, streamed and whole, as vLLM', async () => {
    const qwen = loadStandInVocabulary('qwen3');
    await using engine = await startGrpcEngine({ vocab: qwen, tokenizer: 'qwen3', output: '<think>Two plus two is four.</think>The answer is 4.' });
    await using r = await startRouterProcess(build.path, ['--worker-urls', engine.url, '--model-path', standInTokenizerDir('qwen3'), '--tokenizer-pool-size', '1', '--reasoning-parser', 'qwen3']);
    const messages = [{ role: 'user', content: 'Two plus two?' }];
    const whole = await post(r, { messages, include_reasoning: false }, '/v1/chat/completions');
    expect(whole.body.choices[0].message).toMatchObject({ content: 'The answer is 4.', reasoning: null });
    const res = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'grpc-model', messages, include_reasoning: false, stream: true }) });
    const deltas = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => (JSON.parse(e.slice(6)) as Record<string, any>).choices[0]?.delta ?? {});
    expect(deltas.some((d) => 'reasoning' in d)).toBe(false);
    expect(deltas.map((d) => d.content ?? '').join('')).toBe('The answer is 4.');
    const shown = await post(r, { messages }, '/v1/chat/completions');
    expect(shown.body.choices[0].message.reasoning).toBe('Two plus two is four.');
  });
});
