// An Anthropic Messages stream that breaks off gets Anthropic's `error` event, never OpenAI's frame and [DONE].
import { describe, expect, test } from 'bun:test';
import { createCoarseTimer } from '../../src/routing/coarse-timer.ts';
import { relay } from '../../src/routing/relay.ts';

const timer = createCoarseTimer();

function breakingStream(first: string): Response {
  let sent = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent) return controller.error(new Error('engine died'));
      sent = true;
      controller.enqueue(new TextEncoder().encode(first));
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
}

describe('the error event written into a broken stream', () => {
  test("Messages API: Anthropic's error event", async () => {
    const outcomes: string[] = [];
    const res = await relay(breakingStream('event: message_start\ndata: {"type":"message_start"}\n\n'), 'req-1', { envelope: 'anthropic', timer, onEnd: (o) => outcomes.push(o) });
    const text = await res.text();
    expect(text).toStartWith('event: message_start\n');
    const tail = text.slice(text.indexOf('event: error'));
    expect(tail.startsWith('event: error\ndata: ')).toBe(true);
    expect(JSON.parse(tail.slice('event: error\ndata: '.length))).toEqual({ type: 'error', error: { type: 'api_error', message: 'Endpoint stream broke off: engine died' } });
    expect(text).not.toContain('[DONE]');
    expect(outcomes).toEqual(['upstream_error']);
  });
  test('OpenAI routes: the error frame, then [DONE]', async () => {
    const res = await relay(breakingStream('data: {"choices":[]}\n\n'), 'req-2', { timer, onEnd: () => {} });
    const text = await res.text();
    expect(text).toContain('data: {"error":{"message":"Endpoint stream broke off: engine died"');
    expect(text).toEndWith('data: [DONE]\n\n');
  });
});
