import { describe, expect, test } from 'bun:test';
import { mergeLogprobs, wantsLogprobMerge } from '../../../src/routing/pd/logprobs-merge.ts';

describe('when the merge applies', () => {
  test('logprobs, prompt_logprobs, echo or SGLang return_logprob asked for', () => {
    expect(wantsLogprobMerge({ logprobs: 2 })).toBe(true);
    expect(wantsLogprobMerge({ logprobs: 0 })).toBe(true);
    expect(wantsLogprobMerge({ logprobs: true })).toBe(true);
    expect(wantsLogprobMerge({ prompt_logprobs: 1 })).toBe(true);
    expect(wantsLogprobMerge({ echo: true })).toBe(true);
    expect(wantsLogprobMerge({ return_logprob: true })).toBe(true);
    expect(wantsLogprobMerge({ logprobs: false, echo: false, logprobs_x: 1 })).toBe(false);
    expect(wantsLogprobMerge({ logprobs: null })).toBe(false);
  });
});

describe('completions', () => {
  // Rust's own test vector (logprobs_merge.rs): the decode engine did not compute the prompt's entries.
  const prefill = {
    choices: [
      {
        prompt_logprobs: [null, -0.5, -1.2],
        logprobs: { token_logprobs: [null, -0.5, -1.2, -2.1], tokens: ['Hello', ' world', ' test', ' extra'], text_offset: [0, 5, 11, 16], top_logprobs: [null, { ' world': -0.5 }, { ' test': -1.2 }, { ' extra': -2.1 }] },
      },
    ],
  };

  test('echoed prompt entries from the prefill go first; decode offsets shift past the prompt text', () => {
    const decode = {
      choices: [{ logprobs: { token_logprobs: [-3.5, -4.2], tokens: [' output', ' token'], text_offset: [0, 7], top_logprobs: [{ ' output': -3.5 }, { ' token': -4.2 }] } }],
    };
    expect(mergeLogprobs(prefill, decode)).toBe(true);
    expect(decode.choices[0]).toEqual({
      prompt_logprobs: [null, -0.5, -1.2],
      logprobs: {
        token_logprobs: [null, -0.5, -1.2, -3.5, -4.2],
        tokens: ['Hello', ' world', ' test', ' output', ' token'],
        // The prefill's own generated token (' extra') is not part of the answer.
        text_offset: [0, 5, 11, 16, 23],
        top_logprobs: [null, { ' world': -0.5 }, { ' test': -1.2 }, { ' output': -3.5 }, { ' token': -4.2 }],
      },
    } as never);
  });

  test('a decode answer that already lists the echoed prompt is not given it twice (Rust would)', () => {
    const decode = {
      choices: [
        {
          logprobs: {
            token_logprobs: [null, -0.5, -1.2, -3.5],
            tokens: ['Hello', ' world', ' test', ' output'],
            text_offset: [0, 5, 11, 16],
            top_logprobs: [null, { ' world': -0.5 }, { ' test': -1.2 }, { ' output': -3.5 }],
          },
        },
      ],
    };
    const before = structuredClone(decode.choices[0]!.logprobs);
    mergeLogprobs(prefill, decode);
    expect(decode.choices[0]!.logprobs).toEqual(before);
    expect((decode.choices[0] as Record<string, unknown>).prompt_logprobs).toEqual([null, -0.5, -1.2]);
  });

  test('without echo the prefill has only its generated token: nothing is prepended (Rust would prepend it)', () => {
    const noEcho = { choices: [{ prompt_logprobs: [null, -0.5, -1.2], logprobs: { token_logprobs: [-2.1], tokens: [' extra'], text_offset: [16], top_logprobs: [{ ' extra': -2.1 }] } }] };
    const decode = { choices: [{ logprobs: { token_logprobs: [-3.5], tokens: [' output'], text_offset: [16], top_logprobs: [{ ' output': -3.5 }] } }] };
    mergeLogprobs(noEcho, decode);
    expect(decode.choices[0]!.logprobs.tokens).toEqual([' output']);
    expect((decode.choices[0] as Record<string, unknown>).prompt_logprobs).toEqual([null, -0.5, -1.2]);
  });

  test('choices are merged pairwise (n > 1)', () => {
    const p = { choices: [{ prompt_logprobs: ['a'] }, { prompt_logprobs: ['b'] }] };
    const d: { choices: Record<string, unknown>[] } = { choices: [{ index: 0 }, { index: 1 }] };
    mergeLogprobs(p, d);
    expect(d.choices.map((c) => c.prompt_logprobs)).toEqual([['a'], ['b']]);
  });
});

describe('chat', () => {
  test('top-level prompt_logprobs come from the prefill; generated-token logprobs stay decode’s', () => {
    const prefill = { prompt_logprobs: [null, { '42': { logprob: -0.1, rank: 1, decoded_token: 'hi' } }], choices: [{ logprobs: { content: [{ token: 'P', logprob: -1 }] } }] };
    const decode = { prompt_logprobs: null, choices: [{ logprobs: { content: [{ token: 'D', logprob: -2 }] } }] };
    expect(mergeLogprobs(prefill, decode)).toBe(true);
    expect(decode.prompt_logprobs).toEqual(prefill.prompt_logprobs as never);
    expect(decode.choices[0]!.logprobs.content).toEqual([{ token: 'D', logprob: -2 }]);
  });

  test('a null from the prefill never overwrites decode', () => {
    const decode = { prompt_logprobs: [null, {}] };
    expect(mergeLogprobs({ prompt_logprobs: null }, decode)).toBe(false);
    expect(decode.prompt_logprobs).toEqual([null, {}]);
  });
});

describe('SGLang generate', () => {
  test('meta_info.input_token_logprobs: the prefill’s, then decode’s', () => {
    const decode = { meta_info: { input_token_logprobs: [[-0.3, 9, null]] } };
    mergeLogprobs({ meta_info: { input_token_logprobs: [[null, 1, null], [-0.2, 2, null]] } }, decode);
    expect(decode.meta_info.input_token_logprobs).toEqual([[null, 1, null], [-0.2, 2, null], [-0.3, 9, null]]);
  });
});

describe('usage', () => {
  const prefill = { usage: { prompt_tokens: 100, completion_tokens: 1, total_tokens: 101, prompt_tokens_details: { cached_tokens: 50 } } };

  test('the prefill’s cached_tokens replace a decode placeholder (-1) or a missing value', () => {
    const placeholder = { usage: { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110, prompt_tokens_details: { cached_tokens: -1 } } };
    expect(mergeLogprobs(prefill, placeholder)).toBe(true);
    expect(placeholder.usage.prompt_tokens_details.cached_tokens).toBe(50);
    const missing: Record<string, unknown> = { usage: { prompt_tokens: 100, prompt_tokens_details: null } };
    mergeLogprobs(prefill, missing);
    expect(missing.usage).toEqual({ prompt_tokens: 100, prompt_tokens_details: { cached_tokens: 50 } });
  });

  test('a positive decode value is kept', () => {
    const decode = { usage: { prompt_tokens_details: { cached_tokens: 12 } } };
    expect(mergeLogprobs(prefill, decode)).toBe(false);
    expect(decode.usage.prompt_tokens_details.cached_tokens).toBe(12);
  });

  test('responses-style input_tokens_details are read too; usage is copied when decode has none', () => {
    const decode: Record<string, unknown> = {};
    mergeLogprobs({ usage: { input_tokens: 3, input_tokens_details: { cached_tokens: 2 } } }, decode);
    expect(decode.usage).toEqual({ input_tokens: 3, input_tokens_details: { cached_tokens: 2 } });
  });

  test('no cached_tokens on the prefill side: nothing to do', () => {
    const decode = { usage: { prompt_tokens_details: null } };
    expect(mergeLogprobs({ usage: { prompt_tokens: 1, prompt_tokens_details: null } }, decode)).toBe(false);
  });
});
