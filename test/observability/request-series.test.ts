import { describe, expect, test } from 'bun:test';
import { createMetrics } from '../../src/metrics/metrics.ts';

const line = async (m: ReturnType<typeof createMetrics>, prefix: string) => (await m.registry.metrics()).split('\n').find((l) => l.startsWith(prefix));

describe('request series (the labelled children kept for the per-request path)', () => {
  test('hand out the children the exposition shows, per endpoint, model, route and policy', async () => {
    const m = createMetrics();
    m.series.endpoint('e1').processed.inc();
    m.series.endpoint('e1').processed.inc();
    m.series.model('e1', 'm').e2e.observe(0.2);
    m.series.route('/v1/completions').requests(200).inc();
    m.series.route('/v1/completions').requests(204).inc();
    m.series.route('/v1/completions').requests(503).inc();
    m.series.route('/v1/completions').outcome('complete').inc();
    m.series.decision('round_robin', 'e1').inc();
    expect(await line(m, 'vllm_router_processed_requests_total{worker="e1"}')).toBe('vllm_router_processed_requests_total{worker="e1"} 2');
    expect(await line(m, 'vllm_router_e2e_request_latency_seconds_count{worker="e1",model="m"}')).toEndWith(' 1');
    expect(await line(m, 'vllm_router_requests_total{route="/v1/completions",status="2xx"}')).toEndWith(' 2');
    expect(await line(m, 'vllm_router_requests_total{route="/v1/completions",status="5xx"}')).toEndWith(' 1');
    expect(await line(m, 'vllm_router_stream_outcomes_total{route="/v1/completions",outcome="complete"}')).toEndWith(' 1');
    expect(await line(m, 'vllm_router_policy_decisions_total{policy="round_robin",worker="e1"}')).toEndWith(' 1');
    expect(m.series.endpoint('e1')).toBe(m.series.endpoint('e1'));
    expect(m.series.endpoint('e1').processed).toBe(m.processed.labels('e1'));
  });

  test('after a metric is reset the children kept are new ones, so later updates are still exported', async () => {
    const m = createMetrics();
    m.series.endpoint('e1').processed.inc();
    m.series.model('e1', 'm').promptTokens.inc(5);
    m.series.route('/v1/completions').requests(200).inc();
    m.processed.reset();
    m.promptTokens.reset();
    m.requests.reset();
    m.series.endpoint('e1').processed.inc();
    m.series.model('e1', 'm').promptTokens.inc(3);
    m.series.route('/v1/completions').requests(200).inc();
    expect(await line(m, 'vllm_router_processed_requests_total{worker="e1"}')).toEndWith(' 1');
    expect(await line(m, 'vllm_router_prompt_tokens_total{worker="e1",model="m"}')).toEndWith(' 3');
    expect(await line(m, 'vllm_router_requests_total{route="/v1/completions",status="2xx"}')).toEndWith(' 1');
  });
});
