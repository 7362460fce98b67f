// The completions fields the gRPC front reads itself: batched prompts, echo and prompt logprobs, the fields a
// protocol does not carry (a 400 naming each), and how each protocol's wire carries or returns the new ones.
import { describe, expect, test } from 'bun:test';
import { completionPrompts, MAX_BATCH_PROMPTS } from '../../../src/routing/grpc/completion-prompts.ts';
import { openAiGeneration, type OpenAiGeneration } from '../../../src/routing/grpc/openai-request.ts';
import { uncarriedField } from '../../../src/routing/grpc/uncarried-fields.ts';
import { echoedPromptLogprobs, promptLogprobsAnswer } from '../../../src/routing/grpc/logprobs.ts';
import { inferenceEvents, inferenceGenerateRequest } from '../../../src/grpc/inference-wire.ts';
import { engineEvents } from '../../../src/grpc/vllm-engine-wire.ts';
import type { GenerationCounts, GenerationRequest } from '../../../src/grpc/generation.ts';

const asked = (body: Record<string, unknown>, chat = false): OpenAiGeneration => {
  const got = openAiGeneration(body, chat, {});
  if ('isRouterError' in got) throw new Error(`unexpected error: ${(got as { message: string }).message}`);
  return got;
};
const refusal = (body: Record<string, unknown>, chat = false) => {
  const got = openAiGeneration(body, chat, {});
  return 'isRouterError' in got ? { message: (got as { message: string }).message, param: (got as { param?: string }).param } : undefined;
};

describe('completionPrompts', () => {
  test('a string, token ids, a list of strings, a list of token-id lists', () => {
    expect(completionPrompts('hi')).toEqual([{ text: 'hi' }]);
    expect(completionPrompts([1, 2])).toEqual([{ ids: [1, 2] }]);
    expect(completionPrompts(['a', 'b'])).toEqual([{ text: 'a' }, { text: 'b' }]);
    expect(completionPrompts([[1], [2, 3]])).toEqual([{ ids: [1] }, { ids: [2, 3] }]);
  });

  test('an empty list, mixed types, bad ids, an empty id list and too many prompts are 400s on prompt', () => {
    const message = (p: unknown) => {
      const got = completionPrompts(p);
      return 'isRouterError' in got ? `${(got as { param?: string }).param}: ${(got as { message: string }).message}` : 'accepted';
    };
    expect(message([])).toContain('must not be an empty list');
    expect(message(['a', 1])).toContain('must not mix types');
    expect(message([1, -2])).toContain('non-negative integers');
    expect(message([[1], []])).toBe("prompt: 'prompt[1]' must be a non-empty list of non-negative integer token ids");
    expect(message(Array.from({ length: MAX_BATCH_PROMPTS }, () => 'x'))).toBe('accepted');
    expect(message(Array.from({ length: MAX_BATCH_PROMPTS + 1 }, () => 'x'))).toContain(`at most ${MAX_BATCH_PROMPTS}`);
    expect(message({ text: 'x' })).toContain("'prompt' must be a string");
  });
});

describe('echo and prompt logprobs', () => {
  test('echo with logprobs asks for the prompt\'s logprobs (vLLM\'s to_sampling_params); max_tokens 0 sends one token', () => {
    expect(asked({ prompt: 'x', echo: true, logprobs: 2 }).sampling.promptLogprobs).toBe(2);
    expect(asked({ prompt: 'x', echo: true }).sampling.promptLogprobs).toBeUndefined();
    expect(asked({ prompt: 'x', echo: true, logprobs: 2, prompt_logprobs: 0 }).sampling.promptLogprobs).toBe(0);
    const only = asked({ prompt: 'x', echo: true, max_tokens: 0 });
    expect([only.echoOnly, only.sampling.maxTokens]).toEqual([true, 1]);
    expect(refusal({ prompt: 'x', max_tokens: 0 })).toMatchObject({ param: 'max_tokens' });
  });

  test('prompt_logprobs: -1 or more, never on a stream; chat echo takes the last message when its role is the answer\'s', () => {
    expect(asked({ prompt: 'x', prompt_logprobs: -1 }).sampling.promptLogprobs).toBe(-1);
    expect(refusal({ prompt: 'x', prompt_logprobs: -2 })).toMatchObject({ param: 'prompt_logprobs' });
    expect(refusal({ prompt: 'x', prompt_logprobs: 1, stream: true })).toEqual({ message: '`prompt_logprobs` are not available when `stream=True`.', param: 'prompt_logprobs' });
    const chat = (body: Record<string, unknown>) => openAiGeneration(body, true, {}) as OpenAiGeneration;
    const partial = [{ role: 'user', content: 'hi' }, { role: 'assistant', content: [{ type: 'text', text: 'Dear' }, { type: 'text', text: 'all' }] }];
    expect(chat({ messages: partial, echo: true, add_generation_prompt: false })).toMatchObject({ chatEcho: 'Dear\nall', role: 'assistant', echo: false });
    // A generation prompt follows a user's message: the answer is the assistant's, there is nothing to echo.
    expect(chat({ messages: [{ role: 'user', content: 'hi' }], echo: true }).chatEcho).toBeUndefined();
    // With add_generation_prompt false the answer continues the last message's role (vLLM's get_chat_request_role).
    expect(chat({ messages: [{ role: 'user', content: 'hi' }], echo: true, add_generation_prompt: false })).toMatchObject({ chatEcho: 'hi', role: 'user' });
    // Chat echo asks for the prompt's logprobs (top_logprobs, default 0) in a whole body only, as vLLM's to_sampling_params.
    expect(chat({ messages: partial, echo: true }).sampling.promptLogprobs).toBe(0);
    expect(chat({ messages: partial, echo: true, stream: true }).sampling.promptLogprobs).toBeUndefined();
  });

  test('vLLM\'s prompt_logprobs shape: null first, then {id: {logprob, rank, decoded_token}} with the prompt token first', () => {
    const entries = [
      { id: 5, logprob: null, top: [] },
      { id: 6, logprob: -0.5, rank: 2, top: [{ id: 9, logprob: -0.1, rank: 1 }, { id: 6, logprob: -0.5, rank: 2 }] },
      { id: 7, logprob: -Infinity, top: [] },
    ];
    const answer = promptLogprobsAnswer(entries, undefined);
    expect(answer[0]).toBeNull();
    expect(Object.keys(answer[1]!)).toEqual(['6', '9']);
    expect(answer[1]).toEqual({ '6': { logprob: -0.5, rank: 2, decoded_token: 'token_id:6' }, '9': { logprob: -0.1, rank: 1, decoded_token: 'token_id:9' } });
    expect(answer[2]).toEqual({ '7': { logprob: -9999, rank: null, decoded_token: 'token_id:7' } });
    const echoed = echoedPromptLogprobs(entries, undefined, 0);
    expect(echoed.logprobs.token_logprobs).toEqual([null, -0.5, -9999]);
    expect(echoed.logprobs.top_logprobs).toEqual([null, { 'token_id:6': -0.5 }, { 'token_id:7': -9999 }]);
    expect(echoed.logprobs.text_offset).toEqual([0, 10, 20]);
    expect(echoed.end).toBe(30);
  });
});

describe('fields a protocol does not carry', () => {
  const check = (body: Record<string, unknown>, protocol: 'vllm-engine' | 'vllm-inference', textPrompt = false) => {
    const got = uncarriedField(body, asked(body), protocol, textPrompt);
    return got === undefined ? undefined : { param: got.param, message: got.message };
  };

  test('neither protocol: bad_words, vllm_xargs, logprob_token_ids, suffix, …; vLLM\'s defaults pass', () => {
    for (const protocol of ['vllm-engine', 'vllm-inference'] as const) {
      expect(check({ prompt: 'x', bad_words: ['a'] }, protocol)).toMatchObject({ param: 'bad_words', message: expect.stringContaining('neither gRPC protocol carries it') });
      expect(check({ prompt: 'x', suffix: 'z' }, protocol)).toEqual({ param: 'suffix', message: 'suffix is not currently supported' });
      expect(check({ prompt: 'x', bad_words: [], vllm_xargs: {}, watermarking: false, thinking_token_budget: -1, stream_interval: 1, routed_experts_prompt_start: 0 }, protocol)).toBeUndefined();
    }
  });

  test('VllmEngine has no allowed_token_ids, cache_salt, priority, session_id, nor a seed wider than 32 bits; vllm.Inference has them', () => {
    for (const [field, value] of [['allowed_token_ids', [3]], ['cache_salt', 's'], ['priority', 1], ['session_id', 'a'], ['seed', 2 ** 40]] as const) {
      expect(check({ prompt: 'x', [field]: value }, 'vllm-engine')).toMatchObject({ param: field, message: expect.stringContaining('VllmEngine') });
      expect(check({ prompt: 'x', [field]: value }, 'vllm-inference')).toBeUndefined();
    }
    expect(check({ prompt: 'x', priority: 0 }, 'vllm-engine')).toBeUndefined();
    expect(check({ prompt: 'x', logprobs: 0, logprob_token_ids: [1] }, 'vllm-engine')).toMatchObject({ param: 'logprob_token_ids', message: expect.stringContaining('VllmEngine') });
    expect(check({ prompt: 'x', logprobs: 0, logprob_token_ids: [1] }, 'vllm-inference')).toBeUndefined();
  });

  test('vllm.Inference writes the text itself (no spaces_between_special_tokens), and truncates a text prompt only from the left', () => {
    expect(check({ prompt: 'x', spaces_between_special_tokens: false }, 'vllm-inference')).toMatchObject({ param: 'spaces_between_special_tokens' });
    expect(check({ prompt: 'x', spaces_between_special_tokens: false }, 'vllm-engine')).toBeUndefined();
    expect(check({ prompt: 'x', truncate_prompt_tokens: 4 }, 'vllm-inference', true)).toBeUndefined();
    expect(check({ prompt: 'x', truncate_prompt_tokens: -1 }, 'vllm-inference', true)).toMatchObject({ param: 'truncate_prompt_tokens' });
    expect(check({ prompt: 'x', truncate_prompt_tokens: 4, truncation_side: 'right' }, 'vllm-inference', true)).toMatchObject({ param: 'truncation_side' });
    expect(check({ prompt: 'x', truncate_prompt_tokens: 4, truncation_side: 'right' }, 'vllm-inference', false)).toBeUndefined();
  });

  test('logprob_token_ids: a non-empty list of token ids, with logprobs asked for; vllm.Inference gets them as the output candidates', () => {
    expect(refusal({ prompt: 'x', logprob_token_ids: [1] })).toEqual({ message: '`logprob_token_ids` requires `logprobs` to be set.', param: 'logprob_token_ids' });
    expect(refusal({ messages: [], logprob_token_ids: [1] }, true)).toEqual({ message: '`logprob_token_ids` requires `logprobs=True`.', param: 'logprob_token_ids' });
    expect(refusal({ prompt: 'x', logprobs: 1, logprob_token_ids: [] })).toMatchObject({ param: 'logprob_token_ids' });
    const s = asked({ prompt: 'x', logprobs: 3, logprob_token_ids: [4, 9] }).sampling;
    expect(inferenceGenerateRequest({ requestId: 'r', model: 'm', prompt: { ids: [1] }, sampling: { ...s, maxTokens: 2 } }).response).toMatchObject({ output_logprobs: true, output_candidates: { token_ids: { ids: [4, 9] } } });
  });

  test('allowed_token_ids must be a non-empty list of token ids', () => {
    expect(refusal({ prompt: 'x', allowed_token_ids: [] })).toMatchObject({ param: 'allowed_token_ids' });
    expect(refusal({ prompt: 'x', allowed_token_ids: ['a'] })).toMatchObject({ param: 'allowed_token_ids' });
    expect(asked({ prompt: 'x', allowed_token_ids: [4, 5] }).sampling.allowedTokenIds).toEqual([4, 5]);
  });
});

describe('the wire of the new fields', () => {
  const request = (sampling: Partial<GenerationRequest['sampling']>): GenerationRequest => ({
    requestId: 'r',
    model: 'm',
    prompt: { ids: [1, 2, 3] },
    sampling: { maxTokens: 4, stop: [], stopTokenIds: [], includeStopStr: false, ignoreEos: false, n: 1, skipSpecialTokens: true, spacesBetweenSpecialTokens: true, ...sampling },
    sessionId: 'sess',
  });

  test('vllm.Inference: allowed_token_ids in DecodingParameters, prompt logprobs asked with the prompt ids and top_n (all for -1), session_id', () => {
    const m = inferenceGenerateRequest(request({ allowedTokenIds: [7, 8], promptLogprobs: 3 }));
    expect(m.decoding.allowed_token_ids).toEqual([7, 8]);
    expect(m.response).toMatchObject({ prompt_token_ids: true, prompt_logprobs: true, prompt_candidates: { top_n: 3 } });
    expect(m.session_id).toBe('sess');
    expect(inferenceGenerateRequest(request({ promptLogprobs: -1 })).response.prompt_candidates).toEqual({ all: true });
    expect(inferenceGenerateRequest(request({ promptLogprobs: 0 })).response.prompt_candidates).toBeUndefined();
    expect(inferenceGenerateRequest(request({})).response.prompt_logprobs).toBeUndefined();
  });

  test('vllm.Inference PromptInfo: values matched to the last positions, so the first token has none', () => {
    const counts: GenerationCounts = { promptTokens: 0, cachedTokens: 0 };
    inferenceEvents({ prompt_info: { num_prompt_tokens: 3, token_ids: [1, 2, 3], logprobs: [-0.5, -0.25], ranks: [2, 1], candidate_tokens: [{ tokens: [{ id: 9, logprob: -0.1, rank: 1 }] }, { tokens: [] }] } }, counts);
    expect(counts.promptLogprobs).toEqual([
      { id: 1, logprob: null, top: [] },
      { id: 2, logprob: -0.5, rank: 2, top: [{ id: 9, logprob: -0.1, rank: 1 }] },
      { id: 3, logprob: -0.25, rank: 1, top: [] },
    ]);
  });

  test('VllmEngine InputLogProbs on the first chunk: the first value unset, ranks from the top list\'s order; kept once', () => {
    const counts: GenerationCounts = { promptTokens: 0, cachedTokens: 0 };
    const input = { token_ids: [1, 2], token_logprobs: [{}, { value: -0.75 }], top_logprobs: [{}, { token_ids: [2, 5], values: [-0.75, -2] }] };
    engineEvents({ chunk: { token_ids: [4], prompt_tokens: 2, input_logprobs: input } }, counts);
    expect(counts.promptLogprobs).toEqual([
      { id: 1, logprob: null, top: [] },
      { id: 2, logprob: -0.75, rank: 1, top: [{ id: 2, logprob: -0.75, rank: 1 }, { id: 5, logprob: -2, rank: 2 }] },
    ]);
    const first = counts.promptLogprobs;
    engineEvents({ chunk: { token_ids: [4], index: 1, input_logprobs: { token_ids: [1, 2], token_logprobs: [{}, { value: -9 }] } } }, counts);
    expect(counts.promptLogprobs).toBe(first);
  });
});
