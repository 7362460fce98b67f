// The QoE policies against two real mock engines, one fast and one slow: real streaming requests, the
// router's stream meter and EndpointStats fed from them, EngineMetrics scraping both /metrics. Most traffic
// goes to the fast engine; when it slows down (changed at run time), traffic moves to the other.
import { describe, expect, test } from 'bun:test';
import { alwaysClosed } from '../../src/core/circuit-breaker.ts';
import { createEndpoint, type Endpoint } from '../../src/core/endpoint.ts';
import { createPolicy } from '../../src/policies/index.ts';
import type { PolicyName } from '../../src/config/policy-names.ts';
import type { Policy, PolicySignals } from '../../src/policies/types.ts';
import { createEndpointStats, type EndpointStats } from '../../src/signals/endpoint-stats.ts';
import { createEngineMetrics } from '../../src/signals/engine-metrics.ts';
import { createStreamMeter } from '../../src/signals/stream-meter.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';
import { setMock } from '../../testkit/set-mock.ts';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { chat } from '../policies/routing-fixtures.ts';

const now = () => performance.now();
const CONCURRENCY = 2;

/** One streamed chat request through `policy`, timed and recorded the way the router's stream tap does. */
async function routeOne(policy: Policy, endpoints: readonly Endpoint[], stats: EndpointStats | undefined, turn: number): Promise<string> {
  const req = chat([{ role: 'user', content: `question ${turn}` }]);
  const chosen = policy.select({ candidates: endpoints, all: endpoints, request: req });
  if (chosen === undefined) throw new Error('no endpoint chosen');
  chosen.inFlight++;
  const startedAt = now();
  stats?.started(chosen.id, startedAt);
  try {
    const res = await fetch(`${chosen.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...req.body, model: 'mock-model', max_tokens: 4, stream: true, stream_options: { include_usage: true } }),
    });
    const meter = createStreamMeter(startedAt);
    let sawFirstByte = false;
    for await (const chunk of res.body!) {
      const at = now();
      if (!sawFirstByte) stats?.firstByte(chosen.id, at - startedAt);
      sawFirstByte = true;
      meter.chunk(chunk, at);
    }
    const summary = meter.finish(now());
    stats?.finished(chosen.id, { ok: res.ok, sawFirstByte, itlMs: summary.meanItlMs, tokensPerSecond: summary.tokensPerSecond });
    expect(res.status).toBe(200);
    return chosen.id;
  } finally {
    chosen.inFlight--;
  }
}

/** `count` requests from CONCURRENCY clients; the endpoint ids in completion order. */
async function drive(policy: Policy, endpoints: readonly Endpoint[], stats: EndpointStats | undefined, count: number): Promise<string[]> {
  const order: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) order.push(await routeOne(policy, endpoints, stats, next++));
    }),
  );
  return order;
}

const share = (ids: readonly string[], id: string) => ids.filter((x) => x === id).length / ids.length;

const CASES: readonly { policy: PolicyName; signals: 'router and engine' | 'engine only' }[] = [
  { policy: 'qoe_centric', signals: 'router and engine' },
  { policy: 'qoe_centric', signals: 'engine only' },
  { policy: 'disaggregated_qoe', signals: 'router and engine' },
];

describe('QoE policies on a fast and a slow engine', () => {
  for (const { policy: name, signals: which } of CASES) {
    test(`${name} (${which} signals) sends most traffic to the fast engine and moves when it slows`, async () => {
      await using fast = await spawnMockEngine(['--ttft-ms', '3', '--itl-ms', '1']);
      await using slow = await spawnMockEngine(['--ttft-ms', '60', '--itl-ms', '5']);
      const endpoints = [createEndpoint({ url: fast.url }, alwaysClosed()), createEndpoint({ url: slow.url }, alwaysClosed())];
      const [fastId, slowId] = [endpoints[0]!.id, endpoints[1]!.id];
      using engineMetrics = createEngineMetrics({ endpoints: () => endpoints, intervalMs: 100, timeoutMs: 2_000, now });
      engineMetrics.start();
      const stats = which === 'router and engine' ? createEndpointStats() : undefined;
      const signals: PolicySignals = { engineMetrics, ...(stats ? { endpointStats: stats, statsClock: now } : {}) };
      const policy = createPolicy(name, {
        random: mulberry32(11),
        now,
        options: { cacheThreshold: 0.5, balanceAbsThreshold: 64, balanceRelThreshold: 1.5, evictionIntervalSecs: 120, maxTreeSize: 1 << 20 },
        signals,
      })!;

      const before = await drive(policy, endpoints, stats, 60);
      expect(share(before, fastId)).toBeGreaterThanOrEqual(0.75);

      // The fast engine's prefill becomes four times slower than the other's.
      await setMock(fast.url, { ttftMs: 240 });
      const after = await drive(policy, endpoints, stats, 40);
      expect(share(after.slice(-20), slowId)).toBeGreaterThanOrEqual(0.8);
    });
  }
});
