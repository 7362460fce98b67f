// The QoE features through the real router: qoe_centric in front of a fast and a slow engine, the
// experience metrics (SLA, stream QoE, time by priority), x-served-by, and priority order in the admission queue.
import { describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { startTestRouter } from '../support/router.ts';
import { until } from '../../testkit/until.ts';

const sample = (text: string, name: string, labels: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('QoE through the router', () => {
  for (const policy of ['qoe_centric', 'disaggregated_qoe']) {
    test(`${policy}: most streams go to the fast engine, and move when it slows down`, async () => {
      await using fast = await startMockEngine({ model: 'm', ttftMs: 2, itlMs: 1 });
      await using slow = await startMockEngine({ model: 'm', ttftMs: 80, itlMs: 6 });
      await using r = await startTestRouter(['--worker-urls', fast.url, slow.url, '--policy', policy, '--engine-metrics-interval-secs', '1']);
      const openai = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'k', maxRetries: 0 });
      const one = async (i: number) => {
        const { data: stream, response } = await openai.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: `q${i}` }], max_tokens: 4, stream: true }).withResponse();
        for await (const _ of stream);
        return response.headers.get('x-served-by');
      };
      const round = async (n: number) => {
        const served: (string | null)[] = [];
        for (let i = 0; i < n; i += 2) served.push(...(await Promise.all([one(i), one(i + 1)])));
        return served;
      };
      const first = await round(30);
      expect(first.every((s) => s === fast.url || s === slow.url)).toBe(true);
      expect(first.filter((s) => s === fast.url).length).toBeGreaterThanOrEqual(24);

      // Far slower than the slow engine, so a loaded machine's own delays (tens of ms) cannot blur the two.
      fast.set({ ttftMs: 1000 });
      await round(10); // the router learns the new TTFT from these
      const after = await round(20);
      expect(after.filter((s) => s === slow.url).length).toBeGreaterThanOrEqual(14);
    });
  }

  test('predicted and measured TTFT and TPOT per endpoint, and their error, are on /metrics', async () => {
    await using engine = await startMockEngine({ model: 'm', ttftMs: 40, itlMs: 4 });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'qoe_centric']);
    const stream = (i: number) =>
      fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: `question ${i}`, max_tokens: 6, stream: true }) }).then((res) => res.text());
    for (let i = 0; i < 8; i++) await stream(i);
    const text = await (await fetch(r.router.metricsUrl)).text();
    const worker = `worker="${engine.url}"`;
    // The first request had nothing to predict from; every later one was predicted when sent and measured at its first token.
    expect(sample(text, 'vllm_router_qoe_ttft_seconds_count', `${worker},source="predicted"`)).toBe(7);
    expect(sample(text, 'vllm_router_qoe_ttft_seconds_count', `${worker},source="measured"`)).toBe(7);
    expect(sample(text, 'vllm_router_qoe_prediction_error_ratio_count', `${worker},metric="ttft"`)).toBe(7);
    // TPOT: each stream's end after the first, against the decode line's prediction.
    expect(sample(text, 'vllm_router_qoe_tpot_seconds_count', `${worker},source="measured"`)).toBe(7);
    // A steady engine is predicted well: a mean absolute percentage error under a half.
    const mape = sample(text, 'vllm_router_qoe_prediction_error_ratio_sum', `${worker},metric="ttft"`) / 7;
    expect(mape).toBeLessThan(0.5);
  });

  test('SLA, stream QoE and end-to-end time are recorded by priority; a late first token misses its target', async () => {
    await using engine = await startMockEngine({ model: 'm', ttftMs: 60, itlMs: 2 });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--target-ttft-ms', '1000']);
    const stream = (headers: Record<string, string>) =>
      fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 5, stream: true }) }).then((res) => res.text());
    await stream({ 'x-request-priority': '1' }); // target 1000 ms: met
    await stream({ 'x-request-priority': '3', 'x-sla-target-ms': '10' }); // its own target, 10 ms: missed
    const text = await (await fetch(r.router.metricsUrl)).text();
    expect(sample(text, 'vllm_router_sla_requests_total', 'priority="1",result="met"')).toBe(1);
    expect(sample(text, 'vllm_router_sla_requests_total', 'priority="3",result="missed"')).toBe(1);
    expect(sample(text, 'vllm_router_end_to_end_latency_seconds_count', 'priority="1"')).toBe(1);
    expect(sample(text, 'vllm_router_stream_qoe_count', `priority="1",worker="${engine.url}"`)).toBe(1);
    // Priority 1 never lagged its 1000 ms target: QoE 1, in the top bucket only.
    expect(sample(text, 'vllm_router_stream_qoe_bucket', `le="0.99",priority="1",worker="${engine.url}"`)).toBe(0);
    // Priority 3 wanted its first token at 10 ms and got it at ~60 ms: QoE below 1.
    expect(sample(text, 'vllm_router_stream_qoe_bucket', `le="0.99",priority="3",worker="${engine.url}"`)).toBe(1);
    expect(sample(text, 'vllm_router_prefill_latency_seconds_count', `worker="${engine.url}"`)).toBe(2);
  });

  test('a saturated router admits waiting requests by priority: 1 before 2 before 3', async () => {
    await using engine = await startMockEngine({ model: 'm', itlMs: 5 });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--max-concurrent-requests', '1', '--rate-limit-tokens-per-second', '1000', '--queue-size', '10']);
    const send = (priority: string, tag: string) =>
      fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-priority': priority }, body: JSON.stringify({ model: 'm', prompt: tag, max_tokens: 1 }) }).then((res) => res.text());
    // The one slot is held by a stream until it ends.
    const hold = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'hold', max_tokens: 40, stream: true }) });
    const waiting = [send('3', 'low'), send('2', 'normal'), send('1', 'high')];
    await until(async () => (await queued(r.router.metricsUrl)) === 3, 'three queued');
    await hold.text();
    await Promise.all(waiting);
    const order = engine.received.filter((q) => q.path === '/v1/completions').map((q) => (q.json as { prompt: string }).prompt);
    expect(order).toEqual(['hold', 'high', 'normal', 'low']);
  });
});

async function queued(metricsUrl: string): Promise<number> {
  const line = (await (await fetch(metricsUrl)).text()).split('\n').find((l) => l.startsWith('vllm_router_queue_depth '));
  return line === undefined ? -1 : Number(line.split(' ')[1]);
}
