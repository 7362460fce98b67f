import { describe, expect, test } from 'bun:test';
import { prefillRequest, prefillShapeOf, stripClientKvParams } from '../../../src/routing/pd/prefill-request.ts';

describe('which rewrite a path takes', () => {
  test('generate routes, the responses API, and OpenAI routes for everything else', () => {
    expect(prefillShapeOf('/generate')).toBe('generate');
    expect(prefillShapeOf('/inference/v1/generate?x=1')).toBe('generate');
    expect(prefillShapeOf('/v1/responses')).toBe('responses');
    expect(prefillShapeOf('/v1/chat/completions')).toBe('openai');
    expect(prefillShapeOf('/v1/completions')).toBe('openai');
    expect(prefillShapeOf('/v1/custom')).toBe('openai');
  });
});

describe('the prefill rewrite', () => {
  test('chat: max_tokens and max_completion_tokens 1, not streamed, no stream_options, min tokens dropped', () => {
    const body = {
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      max_completion_tokens: 300,
      min_tokens: 5,
      min_completion_tokens: 5,
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.7,
      logprobs: true,
      top_logprobs: 2,
    };
    expect(prefillRequest(body, 'openai')).toEqual({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 1,
      max_completion_tokens: 1,
      stream: false,
      temperature: 0.7,
      logprobs: true,
      top_logprobs: 2,
    });
  });

  test('completions: max_tokens 1; max_completion_tokens only set when the client sent it', () => {
    const out = prefillRequest({ model: 'm', prompt: 'p', max_tokens: 64, echo: true, logprobs: 1 }, 'openai');
    expect(out).toEqual({ model: 'm', prompt: 'p', max_tokens: 1, stream: false, echo: true, logprobs: 1 });
    expect(out).not.toHaveProperty('max_completion_tokens');
  });

  test('a null max_completion_tokens counts as present (Rust: is_some on the key)', () => {
    expect(prefillRequest({ prompt: 'p', max_completion_tokens: null }, 'openai').max_completion_tokens).toBe(1);
  });

  test('responses API: max_output_tokens 1, nothing else about lengths', () => {
    expect(prefillRequest({ model: 'm', input: 'hi', max_output_tokens: 500, stream: true }, 'responses')).toEqual({ model: 'm', input: 'hi', max_output_tokens: 1, stream: false });
  });

  test('generate: sampling_params.max_tokens 1, its min_tokens dropped, other sampling params kept', () => {
    const body = { text: 'hi', sampling_params: { max_new_tokens: 9, max_tokens: 9, min_tokens: 3, temperature: 0 }, stream: true };
    expect(prefillRequest(body, 'generate')).toEqual({ text: 'hi', sampling_params: { max_new_tokens: 9, max_tokens: 1, temperature: 0 }, stream: false });
  });

  test('generate: sampling_params is created when missing', () => {
    expect(prefillRequest({ input_ids: [1, 2, 3] }, 'generate')).toEqual({ input_ids: [1, 2, 3], sampling_params: { max_tokens: 1 }, stream: false });
  });

  test('drops kv_transfer_params (the router sets the connector’s own) and leaves the input untouched', () => {
    const body = { prompt: 'p', max_tokens: 9, kv_transfer_params: { remote_host: 'evil' }, sampling_params: { max_tokens: 9 } };
    const copy = structuredClone(body);
    expect(prefillRequest(body, 'openai')).not.toHaveProperty('kv_transfer_params');
    prefillRequest(body, 'generate');
    expect(body).toEqual(copy);
  });
});

describe('client kv_transfer_params', () => {
  test('are removed from the body', () => {
    const stripped = stripClientKvParams({ prompt: 'p', kv_transfer_params: { do_remote_prefill: true, remote_host: '169.254.169.254', remote_port: 80 } });
    expect(stripped).toEqual({ prompt: 'p' });
  });

  test('a body without them is returned as is (same object: the client bytes can be forwarded)', () => {
    const body = { prompt: 'p' };
    expect(stripClientKvParams(body)).toBe(body);
  });

  test('a null kv_transfer_params is stripped as well', () => {
    expect(stripClientKvParams({ prompt: 'p', kv_transfer_params: null })).toEqual({ prompt: 'p' });
  });
});
