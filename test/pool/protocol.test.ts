import { describe, expect, test } from 'bun:test';
import { decodeFrame, encodeFrame, type FromThread, jobFromBody, type ToThread } from '../../src/pool/protocol.ts';

describe('pool message framing', () => {
  test('a result frame carries the hashes after the header, viewed in place without a copy', () => {
    const hashes = Float64Array.of(1, 2 ** 52 - 1, 12345678901234);
    const frame = encodeFrame({ t: 'done', id: 7, tokenCount: 50, encodeMs: 1.5 }, hashes);
    const { message, hashes: view } = decodeFrame<FromThread>(frame);
    expect(message).toEqual({ t: 'done', id: 7, tokenCount: 50, encodeMs: 1.5 });
    expect(Array.from(view)).toEqual(Array.from(hashes));
    expect(view.buffer).toBe(frame);
    expect(view.byteOffset % 8).toBe(0);
  });

  test('ids and their varints follow the hashes, each viewed in place (aligned, no copy)', () => {
    const hashes = Float64Array.of(3, 4);
    const ids = Uint32Array.of(0, 1, 300, 2 ** 32 - 1);
    const packed = Uint8Array.of(0, 1, 0xac, 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f);
    const frame = encodeFrame({ t: 'done', id: 2, tokenCount: 4, encodeMs: 0.1 }, hashes, { ids, packed });
    const decoded = decodeFrame<FromThread>(frame);
    expect(Array.from(decoded.hashes)).toEqual([3, 4]);
    expect(Array.from(decoded.ids!.ids)).toEqual(Array.from(ids));
    expect(Array.from(decoded.ids!.packed)).toEqual(Array.from(packed));
    for (const view of [decoded.hashes, decoded.ids!.ids, decoded.ids!.packed]) expect(view.buffer).toBe(frame);
    expect(decoded.ids!.ids.byteOffset % 4).toBe(0);
    // No hashes (a prompt shorter than a block) and no ids (an empty prompt) still come back as views.
    const short = decodeFrame<FromThread>(encodeFrame({ t: 'done', id: 3, tokenCount: 0, encodeMs: 0 }, new Float64Array(0), { ids: new Uint32Array(0), packed: new Uint8Array(0) }));
    expect(short.hashes.length).toBe(0);
    expect(short.ids!.ids.length).toBe(0);
    expect(decodeFrame<FromThread>(encodeFrame({ t: 'done', id: 4, tokenCount: 0, encodeMs: 0 }, hashes)).ids).toBeUndefined();
  });

  test('a frame without hashes decodes to an empty view', () => {
    const frame = encodeFrame({ t: 'failed', id: 1, error: 'bad' });
    expect(decodeFrame<FromThread>(frame)).toEqual({ message: { t: 'failed', id: 1, error: 'bad' }, hashes: new Float64Array(0) });
  });

  test('each frame owns its buffer, so transferring it leaves the encoder intact', () => {
    const job: ToThread = { t: 'job', id: 1, attempt: 1, tokenizer: 0, job: { kind: 'completion', prompt: 'x'.repeat(100_000) }, returnIds: false };
    const first = encodeFrame(job);
    structuredClone(first, { transfer: [first] }); // detaches `first`, as postMessage does
    const second = encodeFrame(job);
    expect(decodeFrame<ToThread>(second).message).toEqual(job);
  });
});

describe('jobFromBody', () => {
  test('chat requests carry the fields vLLM renders with', () => {
    const messages = [{ role: 'user', content: 'hi' }];
    expect(
      jobFromBody('/v1/chat/completions', {
        model: 'm',
        messages,
        tools: [{ type: 'function' }],
        add_generation_prompt: false,
        chat_template_kwargs: { enable_thinking: false },
        cache_salt: 's',
      }),
    ).toEqual({
      kind: 'chat',
      messages,
      tools: [{ type: 'function' }],
      documents: null,
      addGenerationPrompt: false,
      continueFinalMessage: undefined,
      addSpecialTokens: undefined,
      templateKwargs: { enable_thinking: false },
      cacheSalt: 's',
    });
  });

  test('completion prompts of every shape; other routes and bodies give no job', () => {
    expect(jobFromBody('/v1/completions', { prompt: 'p' })).toMatchObject({ kind: 'completion', prompt: 'p' });
    expect(jobFromBody('/v1/completions', { prompt: [1, 2, 3], add_special_tokens: false })).toMatchObject({ prompt: [1, 2, 3], addSpecialTokens: false });
    expect(jobFromBody('/v1/completions', { prompt: [] })).toBeUndefined();
    expect(jobFromBody('/v1/chat/completions', { messages: 'nope' })).toBeUndefined();
    expect(jobFromBody('/v1/embeddings', { input: 'x' })).toBeUndefined();
    expect(jobFromBody('/v1/completions', undefined)).toBeUndefined();
  });
});
