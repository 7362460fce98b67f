import { describe, expect, test } from 'bun:test';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { startTestRouter } from '../support/router.ts';

/** The value of one sample in Prometheus text, e.g. sample(text, 'x_total', {route: '/a'}). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

describe('Prometheus metrics after real traffic', () => {
  test('counters and histograms move by exactly what was sent', async () => {
    await using a = await startMockEngine({ model: 'm' });
    await using b = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', a.url, b.url, '--policy', 'round_robin']);
    const openai = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'k', maxRetries: 0 });
    for (let i = 0; i < 6; i++) await openai.completions.create({ model: 'm', prompt: 'one two three', max_tokens: 5 });
    for (let i = 0; i < 4; i++) {
      const s = await openai.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'a b' }], max_tokens: 3, stream: true, stream_options: { include_usage: true } });
      for await (const _ of s);
    }
    await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'nope' });

    const text = await (await fetch(r.router.metricsUrl)).text();
    expect(sample(text, 'vllm_router_requests_total', { route: '/v1/completions', status: '2xx' })).toBe(6);
    expect(sample(text, 'vllm_router_requests_total', { route: '/v1/chat/completions', status: '2xx' })).toBe(4);
    expect(sample(text, 'vllm_router_requests_total', { route: '/v1/completions', status: '4xx' })).toBe(1);
    expect(sample(text, 'vllm_router_request_errors_total', { route: '/v1/completions', error_type: 'invalid_json' })).toBe(1);
    expect(sample(text, 'vllm_router_processed_requests_total', { worker: a.url }) + sample(text, 'vllm_router_processed_requests_total', { worker: b.url })).toBe(10);
    expect(sample(text, 'vllm_router_processed_requests_total', { worker: a.url })).toBe(5);
    const tokens = (name: string) => sample(text, name, { worker: a.url, model: 'm' }) + sample(text, name, { worker: b.url, model: 'm' });
    expect(tokens('vllm_router_completion_tokens_total')).toBe(6 * 5 + 4 * 3);
    expect(tokens('vllm_router_prompt_tokens_total')).toBe(6 * 3 + 4 * 2);
    expect(sample(text, 'vllm_router_time_to_first_token_seconds_count', { worker: a.url, model: 'm' }) + sample(text, 'vllm_router_time_to_first_token_seconds_count', { worker: b.url, model: 'm' })).toBe(4);
    expect(sample(text, 'vllm_router_request_duration_seconds_count', { route: '/v1/completions' })).toBe(6);
    expect(sample(text, 'vllm_router_running_requests', { worker: a.url })).toBe(0);
    expect(sample(text, 'vllm_router_active_workers')).toBe(2);
  });

  test("a non-streaming answer's end-to-end time is read once its whole body is in: it covers the engine's delay", async () => {
    const ttftMs = 150;
    await using engine = await startMockEngine({ model: 'm', ttftMs });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    const res = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 3 }) });
    expect(res.status).toBe(200);
    await res.text();
    const text = await (await fetch(r.router.metricsUrl)).text();
    const labels = { worker: engine.url, model: 'm' };
    expect(sample(text, 'vllm_router_e2e_request_latency_seconds_count', labels)).toBe(1);
    expect(sample(text, 'vllm_router_e2e_request_latency_seconds_sum', labels) * 1000).toBeGreaterThanOrEqual(ttftMs);
    expect(sample(text, 'vllm_router_request_duration_seconds_sum', { route: '/v1/completions' }) * 1000).toBeGreaterThanOrEqual(ttftMs);
    expect(sample(text, 'vllm_router_completion_tokens_total', labels)).toBe(3);
  });

  test("the stream tap's TTFT and inter-token latency agree with the engine's configured delays", async () => {
    const ttftMs = 120;
    const itlMs = 40;
    await using engine = await startMockEngine({ model: 'm', ttftMs, itlMs });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    const openai = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'k', maxRetries: 0 });
    const s = await openai.completions.create({ model: 'm', prompt: 'x', max_tokens: 10, stream: true });
    for await (const _ of s);
    const text = await (await fetch(r.router.metricsUrl)).text();
    const labels = { worker: engine.url, model: 'm' };
    const ttft = sample(text, 'vllm_router_time_to_first_token_seconds_sum', labels) * 1000;
    const gaps = sample(text, 'vllm_router_inter_token_latency_seconds_count', labels);
    const meanItl = (sample(text, 'vllm_router_inter_token_latency_seconds_sum', labels) * 1000) / gaps;
    // Timers fire late, never early; the tolerance allows for a loaded 2-core machine.
    expect(ttft).toBeGreaterThanOrEqual(ttftMs - 2);
    expect(ttft).toBeLessThan(ttftMs + 100);
    expect(gaps).toBeGreaterThanOrEqual(8);
    expect(meanItl).toBeGreaterThanOrEqual(itlMs * 0.8);
    expect(meanItl).toBeLessThan(itlMs + 40);
    const snapshot = r.router.stats.snapshot(engine.url, performance.now());
    expect(snapshot.ttftMs!).toBeGreaterThanOrEqual(ttftMs - 2);
    expect(snapshot.inDecode + snapshot.inPrefill).toBe(0);
  });
});

describe('logs', () => {
  test('with --log-json every line is JSON, and the access line carries the id the client got', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    const res = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-secret-key' }, body: '{"model":"m","prompt":"private words","max_tokens":2}' });
    const id = res.headers.get('x-request-id')!;
    await res.text();
    const lines = r.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    const access = lines.find((l) => l.msg === 'request' && l.request_id === id);
    expect(access).toMatchObject({ route: '/v1/completions', model: 'm', endpoint: engine.url, status: 200, outcome: 'complete', prompt_tokens: 2, completion_tokens: 2 });
    expect(typeof access!.total_ms).toBe('number');
    const all = r.logs.join('\n');
    expect(all).not.toContain('sk-secret-key');
    expect(all).not.toContain('private words');
  });

  test('--log-dir writes the same lines to a daily file vllm-router.YYYY-MM-DD', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'router-logs-')), 'nested');
    await using engine = await startMockEngine({ model: 'm' });
    {
      const { loadConfig } = await import('../../src/config/load.ts');
      const { startRouter } = await import('../../src/startup/start-router.ts');
      const loaded = loadConfig({ argv: ['--worker-urls', engine.url, '--port', '0', '--prometheus-port', '0', '--log-json', '--log-dir', dir], env: {}, readFile: () => '', version: 't' });
      if (loaded.kind !== 'config') throw new Error('bad config');
      await using router = await startRouter({ ...loaded.config, policy: 'round_robin' });
      await (await fetch(`${router.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'file-check-1' }, body: '{"model":"m","prompt":"x","max_tokens":1}' })).text();
    }
    const files = readdirSync(dir);
    expect(files).toEqual([`vllm-router.${new Date().toISOString().slice(0, 10)}`]);
    const lines = readFileSync(join(dir, files[0]!), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { request_id?: string });
    expect(lines.some((l) => l.request_id === 'file-check-1')).toBe(true);
  });
});
