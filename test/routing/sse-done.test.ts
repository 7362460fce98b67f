// The [DONE] watcher: it decides from a stream's last bytes, however the network cut them.
import { describe, expect, test } from 'bun:test';
import { createDoneWatch, streamEndsWithDone } from '../../src/routing/sse-done.ts';

const enc = new TextEncoder();
const EVENT = 'data: {"id":"cmpl-1","object":"text_completion","choices":[{"index":0,"text":" a","finish_reason":"length"}]}\n\n';

/** The watcher's verdict after `text` went through in chunks of `size` bytes (0: one chunk). */
function watch(text: string, size = 0) {
  const bytes = enc.encode(text);
  const w = createDoneWatch();
  if (size === 0) w.push(bytes);
  else for (let i = 0; i < bytes.length; i += size) w.push(bytes.subarray(i, i + size));
  return { done: w.sawDone(), newlines: w.trailingNewlines() };
}

describe('[DONE] watch', () => {
  test('a stream that ends with data: [DONE] is done, whatever the chunk sizes', () => {
    for (const size of [0, 1, 2, 3, 5, 7, 13, 31, 32, 33, 64]) expect([size, watch(EVENT + 'data: [DONE]\n\n', size).done]).toEqual([size, true]);
  });

  test('long and short chunks mixed: [DONE] is found wherever the cuts fall, and a non-[DONE] ending is not taken for it', () => {
    const cuts = (text: string, seed: number) => {
      const bytes = enc.encode(text);
      const w = createDoneWatch();
      // Chunk sizes cycling through long (≥ 32) and short ones, the cycle shifted by `seed`.
      const sizes = [40, 1, 3, 70, 2, 31, 32, 5];
      for (let i = 0, k = seed; i < bytes.length; k++) {
        const size = sizes[k % sizes.length]!;
        w.push(bytes.subarray(i, i + size));
        i += size;
      }
      return w.sawDone();
    };
    for (let seed = 0; seed < 8; seed++) {
      for (let pad = 0; pad < 40; pad += 3) {
        const head = EVENT.repeat(3) + 'x'.repeat(pad) + '\n\n';
        expect([seed, pad, cuts(head + 'data: [DONE]\n\n', seed)]).toEqual([seed, pad, true]);
        expect([seed, pad, cuts(head + 'data: [DONE]x\n\n', seed)]).toEqual([seed, pad, false]);
        expect([seed, pad, cuts(head + 'data: {"a":"[DONE]"}\n\n', seed)]).toEqual([seed, pad, false]);
      }
    }
  });

  test('line endings and spacing vLLM or a proxy may use: CRLF, no space, a missing final blank line', () => {
    for (const tail of ['data: [DONE]\r\n\r\n', 'data:[DONE]\n\n', 'data:  [DONE]\n\n', 'data: [DONE]\n', 'data: [DONE]']) expect([tail, watch(EVENT + tail, 1).done]).toEqual([tail, true]);
    expect(watch('data: [DONE]\n\n').done).toBe(true);
  });

  test('a stream whose last event is not [DONE] is not done', () => {
    for (const text of ['', EVENT, EVENT + 'data: [DONE]\n\n' + EVENT, EVENT + 'data: [DON', EVENT + 'data: [DONE]x\n\n', EVENT + 'xdata: [DONE]\n\n', EVENT + 'data: "[DONE]"\n\n', 'data: {"text":"[DONE]"}\n\n'])
      expect([text.slice(-40), watch(text, 3).done]).toEqual([text.slice(-40), false]);
  });

  test('counts the newlines the stream ended with, so an appended event starts on a line of its own', () => {
    expect(watch(EVENT).newlines).toBe(2);
    expect(watch(EVENT.slice(0, -1)).newlines).toBe(1);
    expect(watch(EVENT.slice(0, -2)).newlines).toBe(0);
    expect(watch('data: {"a":1}\r\n\r\n', 1).newlines).toBe(2);
    expect(watch('').newlines).toBe(0);
  });

  test('only chat and completions routes are watched; the fallback when it proxies their paths', () => {
    expect(streamEndsWithDone('/v1/chat/completions', '/v1/chat/completions')).toBe(true);
    expect(streamEndsWithDone('/v1/completions', '/v1/completions?x=1')).toBe(true);
    expect(streamEndsWithDone('fallback', '/v1/chat/completions?x=1')).toBe(true);
    expect(streamEndsWithDone('fallback', '/v1/completions')).toBe(true);
    for (const [route, path] of [['/v1/responses', '/v1/responses'], ['fallback', '/v1/messages'], ['fallback', '/v1/chat/completions/x'], ['/generate', '/generate'], ['/v1/embeddings', '/v1/embeddings']])
      expect([route, path, streamEndsWithDone(route!, path!)]).toEqual([route, path, false]);
  });
});
