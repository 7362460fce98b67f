// A chat or completions stream that closes cleanly without `data: [DONE]` is a broken stream: the client hears
// it in the one SSE error frame, and it counts as an error for metrics, breaker and the access log (issue #6,
// item 6). Responses streams end with their own event and are left as they are.
import { describe, expect, test } from 'bun:test';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { startPdTestServer } from './pd/pd-harness.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { startTestRouter } from '../support/router.ts';
import { until } from '../../testkit/until.ts';

const CHAT = JSON.stringify({ model: 'm', stream: true, max_tokens: 4, messages: [{ role: 'user', content: 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen' }] });
const COMPLETIONS = JSON.stringify({ model: 'm', stream: true, max_tokens: 6, prompt: 'hello' });
const post = (url: string, path: string, body: string) => fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
const scrape = async (url: string) => (await fetch(url)).text();

/** The frame the router appends: one error event on its own lines, then [DONE]. */
const TRUNCATED = /\n\ndata: \{"error":\{"message":"Endpoint ended the stream without data: \[DONE\][^\n]*"code":"stream_interrupted"\}\}\n\ndata: \[DONE\]\n\n$/;

describe('streams that end without [DONE]', () => {
  test('regular mode: the chat client gets the error frame after the events it was sent, and it counts as an error everywhere', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    engine.set({ failure: { kind: 'no-done' } });
    const res = await post(r.url, '/v1/chat/completions', CHAT);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).toContain('"finish_reason":"length"');
    expect(text).toMatch(TRUNCATED);

    await until(() => r.logs.some((l) => l.includes('"msg":"request"')), 'the access log line');
    const m = await scrape(r.router.metricsUrl);
    expect(metricValue(m, 'vllm_router_stream_outcomes_total', { route: '/v1/chat/completions', outcome: 'truncated' })).toBe(1);
    expect(metricValue(m, 'vllm_router_stream_outcomes_total', { outcome: 'complete' })).toBe(0);
    expect(metricValue(m, 'vllm_router_cb_outcomes_total', { worker: engine.url, outcome: 'failure' })).toBe(1);
    const access = JSON.parse(r.logs.find((l) => l.includes('"msg":"request"'))!) as Record<string, unknown>;
    expect(access).toMatchObject({ route: '/v1/chat/completions', status: 200, outcome: 'truncated' });
  });

  test('a completions stream cut after two events: the frame starts on a line of its own', async () => {
    await using engine = await startMockEngine({ model: 'm', itlMs: 1 });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    engine.set({ failure: { kind: 'no-done', afterTokens: 2 } });
    const text = await (await post(r.url, '/v1/completions', COMPLETIONS)).text();
    expect(text.match(/"text":/g)).toHaveLength(2);
    expect(text).not.toContain('"finish_reason":"length"');
    expect(text).toMatch(TRUNCATED);
    expect(metricValue(await scrape(r.router.metricsUrl), 'vllm_router_stream_outcomes_total', { route: '/v1/completions', outcome: 'truncated' })).toBe(1);
  });

  test('a stream that ends with [DONE] is complete and passes untouched; a Responses stream, which never sends [DONE], too', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    const chat = await (await post(r.url, '/v1/chat/completions', CHAT)).text();
    expect(chat).toEndWith('"finish_reason":"length","stop_reason":null,"token_ids":null}]}\n\ndata: [DONE]\n\n');
    expect(chat).not.toContain('"error"');

    const responses = await (await post(r.url, '/v1/responses', JSON.stringify({ model: 'm', input: 'hello', stream: true, max_output_tokens: 3 }))).text();
    expect(responses).toStartWith('event: response.created\n');
    expect(responses).toMatch(/event: response\.completed\ndata: \{[^\n]*"status":"completed"[^\n]*\}\n\n$/);
    expect(responses).not.toContain('[DONE]');

    await until(() => r.logs.filter((l) => l.includes('"msg":"request"')).length === 2, 'two access log lines');
    const m = await scrape(r.router.metricsUrl);
    expect(metricValue(m, 'vllm_router_stream_outcomes_total', { outcome: 'complete' })).toBe(2);
    expect(metricValue(m, 'vllm_router_stream_outcomes_total', { outcome: 'truncated' })).toBe(0);
    expect(metricValue(m, 'vllm_router_cb_outcomes_total', { outcome: 'failure' })).toBe(0);
  });

  for (const mode of ['vllm', 'sglang'] as const)
    test(`PD mode (${mode}): a decode stream without [DONE] gets the error frame and is a stream error of its decode endpoint`, async () => {
      await using p = await startMockEngine({ role: mode === 'vllm' ? 'prefill' : 'both', model: 'm' });
      await using d = await startMockEngine({ role: mode === 'vllm' ? 'decode' : 'both', model: 'm', handoffCheck: 'record' });
      await using h = await startPdTestServer({ mode, prefill: [{ url: p.url }], decode: [{ url: d.url }], connector: 'nixl' });
      d.set({ failure: { kind: 'no-done' } });
      const text = await (await post(h.url, '/v1/chat/completions', CHAT)).text();
      expect(text).toContain('"finish_reason":"length"');
      expect(text).toMatch(TRUNCATED);
      await until(() => h.pd.outcomes().length === 1, 'the PD outcome');
      expect(h.pd.outcomes()).toEqual(['stream_error']);
      expect(h.pd.events).toContainEqual({ type: 'streamError', worker: d.url });
      expect(metricValue(await h.metrics.registry.metrics(), 'vllm_router_stream_outcomes_total', { route: '/v1/chat/completions', outcome: 'truncated' })).toBe(1);
    });
});
