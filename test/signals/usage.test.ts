import { describe, expect, test } from 'bun:test';
import { usageInTail } from '../../src/signals/usage.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const event = (usage: string) => `data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":${usage}}\n\n`;
const USAGE = '{"prompt_tokens":12,"total_tokens":15,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":4}}';

describe('usage in the tail of a body', () => {
  test('the last usage object, nested details and all, before [DONE]', () => {
    const text = event('{"prompt_tokens":1,"completion_tokens":1}') + event(USAGE) + 'data: [DONE]\n\n';
    expect(usageInTail([bytes(text)])).toEqual({ promptTokens: 12, completionTokens: 3 });
  });

  test('cut anywhere across the last chunks, the key and the object included', () => {
    const text = bytes(`data: {"choices":[{"delta":{"content":"x"}}]}\n\n${event(USAGE)}data: [DONE]\n\n`);
    for (let a = 1; a < text.byteLength - 1; a += 7)
      for (const b of [a + 1, a + 13, a + 40]) {
        if (b >= text.byteLength) continue;
        const chunks = [text.subarray(0, a), text.subarray(a, b), text.subarray(b)];
        expect(usageInTail(chunks)).toEqual({ promptTokens: 12, completionTokens: 3 });
      }
  });

  test('a non-streamed JSON body; completion_tokens missing counts 0', () => {
    expect(usageInTail([bytes('{"id":"x","choices":[],"usage":{"prompt_tokens":5,"total_tokens":5}}')])).toEqual({ promptTokens: 5, completionTokens: 0 });
  });

  test('none: no usage, a null usage, a usage without prompt_tokens, an unclosed object, a usage key inside a string', () => {
    expect(usageInTail([])).toBeUndefined();
    expect(usageInTail([bytes('data: {"choices":[]}\n\ndata: [DONE]\n\n')])).toBeUndefined();
    expect(usageInTail([bytes(event('null'))])).toBeUndefined();
    expect(usageInTail([bytes(event('{"completion_tokens":3}'))])).toBeUndefined();
    expect(usageInTail([bytes('data: {"usage":{"prompt_tokens":3')])).toBeUndefined();
    expect(usageInTail([bytes('{"text":"say \\"usage\\":{\\"prompt_tokens\\":9}"}')])).toBeUndefined();
  });

  test('only the last 4 KiB are read: a usage object further back is not found', () => {
    const filler = `data: {"choices":[{"delta":{"content":"${'y'.repeat(5000)}"}}]}\n\n`;
    expect(usageInTail([bytes(event(USAGE) + filler)])).toBeUndefined();
    expect(usageInTail([bytes(filler + event(USAGE))])).toEqual({ promptTokens: 12, completionTokens: 3 });
  });

  test('the counts are read as JSON reads them: spaces, key order, a nested key of the same name, values that are not whole numbers', () => {
    const read = (usage: string) => usageInTail([bytes(event(usage) + 'data: [DONE]\n\n')]);
    expect(read('{ "completion_tokens" : 3 , "prompt_tokens" : 12 }')).toEqual({ promptTokens: 12, completionTokens: 3 });
    expect(read('{"prompt_tokens_details":{"prompt_tokens":99,"completion_tokens":98},"prompt_tokens":12,"completion_tokens":3}')).toEqual({ promptTokens: 12, completionTokens: 3 });
    expect(read('{"prompt_tokens":12,"completion_tokens":null}')).toEqual({ promptTokens: 12, completionTokens: 0 });
    expect(read('{"prompt_tokens":1.5e1,"completion_tokens":2}')).toEqual({ promptTokens: 15, completionTokens: 2 });
    expect(read('{"prompt_tokens":"12","completion_tokens":2}')).toBeUndefined();
    expect(read('{"prompt_tokens":123456789012,"completion_tokens":0}')).toEqual({ promptTokens: 123456789012, completionTokens: 0 });
  });

  test('the last usage wins when every event carries one (continuous usage stats), however the chunks fall', () => {
    const text = event('{"prompt_tokens":5,"completion_tokens":1}') + event('{"prompt_tokens":5,"completion_tokens":2}') + 'data: [DONE]\n\n';
    const all = bytes(text);
    for (let a = 1; a < all.byteLength; a += 3) expect(usageInTail([all.subarray(0, a), all.subarray(a)])).toEqual({ promptTokens: 5, completionTokens: 2 });
  });
});
