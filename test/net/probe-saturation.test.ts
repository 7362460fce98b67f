// Health probes and engine /metrics reads still reach the engine while open streams hold every slot of Bun's fetch.
//
// Bun runs at most BUN_CONFIG_MAX_HTTP_REQUESTS fetches at once per process and queues the rest. The router
// runs here with that limit at 8 and 8 streams held open through it, plus a 9th that waits in Bun's queue for
// the whole test: that the 9th never reaches the engine is the proof the queue stayed full. Meanwhile the
// engine must keep receiving health probes and /metrics reads (they go over node:http, src/net/probe.ts), the
// endpoint must stay healthy and /readiness 200. With the probes on fetch, they wait behind the streams, time
// out, and the endpoint is marked unhealthy on the first round.
import { expect, test } from 'bun:test';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { spawnChild } from '../../testkit/spawn-child.ts';
import { until } from '../../testkit/until.ts';

const FETCH_SLOTS = 8;

test(`with all ${FETCH_SLOTS} fetch slots held by streams, health probes and /metrics reads go on and the endpoint stays ready`, async () => {
  // Slow tokens: each stream stays open far longer than the test.
  await using engine = await startMockEngine({ model: 'm', itlMs: 200 });
  const args = [
    ...['--port', '0', '--prometheus-port', '0', '--log-json', '--worker-urls', engine.url, '--policy', 'qoe_centric'],
    ...['--health-check-interval-secs', '1', '--health-check-timeout-secs', '2', '--health-failure-threshold', '1', '--health-success-threshold', '1'],
    ...['--engine-metrics-interval-secs', '1', '--engine-metrics-timeout-secs', '2'],
  ];
  await using router = spawnChild(['bun', new URL('../../testkit/router-main.ts', import.meta.url).pathname, ...args], { BUN_CONFIG_MAX_HTTP_REQUESTS: String(FETCH_SLOTS) });
  const [line] = await router.waitFor(/^\{.*"msg":"vllm-router listening".*\}$/m);
  const { url, metrics: metricsUrl } = JSON.parse(line) as { url: string; metrics: string };

  const streams = new AbortController();
  const completions = () => engine.received.filter((r) => r.path === '/v1/chat/completions').length;
  const arrivals = (path: string) => engine.received.filter((r) => r.path === path).length;
  try {
    for (let i = 0; i <= FETCH_SLOTS; i++) {
      void fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'go on' }], max_tokens: 4000, stream: true }),
        signal: streams.signal,
      })
        .then((res) => res.body?.pipeTo(new WritableStream()))
        .catch(() => {});
    }
    await until(() => completions() === FETCH_SLOTS, `${FETCH_SLOTS} streams open at the engine`);

    const health = { before: arrivals('/health'), ok: 0, failed: 0 };
    const scrapesBefore = arrivals('/metrics');
    const checks = async () => {
      const text = await (await fetch(metricsUrl)).text();
      health.ok = metricValue(text, 'vllm_router_health_checks_total', { result: 'ok' });
      health.failed = metricValue(text, 'vllm_router_health_checks_total', { result: 'failed' });
    };
    await checks();
    const okBefore = health.ok;
    // Three more rounds, or the first failure.
    await until(async () => (await checks(), health.ok >= okBefore + 3 || health.failed > 0), 'three health rounds under saturation');
    await until(() => arrivals('/metrics') >= scrapesBefore + 3, 'three /metrics reads under saturation');

    expect(health.failed).toBe(0);
    expect(arrivals('/health') - health.before).toBeGreaterThanOrEqual(3);
    const readiness = await fetch(`${url}/readiness`);
    expect(readiness.status).toBe(200);
    // An admin /get_loads read under saturation: the engine's own count, not "unknown".
    const loads = (await (await fetch(`${url}/get_loads`)).json()) as { workers: { load: number }[] };
    expect(loads.workers[0]?.load).toBe(FETCH_SLOTS);
    expect(router.stdout()).not.toContain('engine metrics scrape failed');
    expect(router.stdout()).not.toContain('endpoint unhealthy');
    // The queue stayed full all along: the stream beyond the limit never left the router.
    expect(completions()).toBe(FETCH_SLOTS);
  } finally {
    streams.abort();
  }
});
